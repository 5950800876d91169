"""RuntimeRouter: one Runtime in front of several, choosing by instance type (instance-types.yaml's ``runtime``).

A lab can keep CPU types on the server's host and send GPU types to its Slurm cluster. An instance runs where
its type says when it starts; calls about a running instance go to the runtime that started it, and calls
about one this process has not seen (after a restart) go to its type's runtime, found in the catalogue.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from selfmaker.domain.instance_types import InstanceType
from selfmaker.runtime.base import Endpoint, InstanceSpec, LogSink, Runtime
from selfmaker.runtime.local import volume_image


class RuntimeRouter:
    def __init__(self, runtimes: dict[str, Runtime], default: str, catalogue: dict[str, InstanceType]):
        self.runtimes = runtimes  # "local", "slurm"
        self.default = default
        self.catalogue = catalogue
        self._placed: dict[str, str] = {}  # instance id → name of the runtime that started or adopted it

    def kind_of(self, instance_type: str) -> str:
        kind = self.catalogue.get(instance_type)
        chosen = kind.runtime if kind is not None and kind.runtime else self.default
        return chosen if chosen in self.runtimes else self.default

    def runtime_for(self, instance_type: str) -> Runtime:
        return self.runtimes[self.kind_of(instance_type)]

    def placed(self, instance_id: str) -> Runtime | None:
        name = self._placed.get(instance_id)
        return self.runtimes[name] if name else None

    # --- the Runtime protocol ---

    async def start(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint:
        name = self.kind_of(spec.instance_type)
        await self._stop_elsewhere(spec.instance_id, name)  # its type moved it: nothing may run twice
        await asyncio.to_thread(self._bring_volume, spec, name)
        self._placed[spec.instance_id] = name
        return await self.runtimes[name].start(spec, log_sink)

    async def adopt(self, spec: InstanceSpec, log_sink: LogSink) -> Endpoint | None:
        name = self.kind_of(spec.instance_type)
        endpoint = await self.runtimes[name].adopt(spec, log_sink)
        if endpoint is not None:
            self._placed[spec.instance_id] = name
        return endpoint

    async def stop(self, instance_id: str) -> None:
        for runtime in self._candidates(instance_id):
            await runtime.stop(instance_id)

    async def delete(self, instance_id: str, volume_dir: Path) -> None:
        for runtime in self.runtimes.values():  # volumes may be on either side after a type change
            await runtime.delete(instance_id, volume_dir)
        self._placed.pop(instance_id, None)

    def volume_used(self, volume_dir: Path) -> int:
        runtime = self.placed(volume_dir.name) or self._holding_volume(volume_dir) or self.runtimes[self.default]
        return runtime.volume_used(volume_dir)

    def _holding_volume(self, volume_dir: Path) -> Runtime | None:
        """The runtime whose storage has the volume of a stopped instance (named by its instance id)."""
        for name, runtime in self.runtimes.items():
            path = self._volume(name, volume_dir)
            if volume_image(path).exists() or path.is_dir():
                return runtime
        return None

    def unenforced(self) -> list[str]:
        return [missing for runtime in self.runtimes.values() for missing in runtime.unenforced()]

    def endpoint(self, instance_id: str) -> Endpoint | None:
        runtime = self.placed(instance_id)
        if runtime is not None:
            return runtime.endpoint(instance_id)
        # One another server runs (several servers on one store): whichever runtime can reach it.
        return next((found for runtime in self.runtimes.values()
                     if (found := runtime.endpoint(instance_id)) is not None), None)

    async def release(self, instance_id: str) -> None:
        """Let go of an instance another server took over (store/leases.py); its sandbox runs on."""
        name = self._placed.pop(instance_id, None)
        if name is not None:
            await self.runtimes[name].release(instance_id)

    def alive(self, instance_id: str) -> bool:
        runtime = self.placed(instance_id)
        return runtime is not None and runtime.alive(instance_id)

    async def close(self) -> None:
        for runtime in self.runtimes.values():
            await runtime.close()

    def placement(self, instance_id: str) -> dict | None:
        runtime = self.placed(instance_id)
        placement = getattr(runtime, "placement", None)
        return placement(instance_id) if placement is not None else None

    def _candidates(self, instance_id: str) -> list[Runtime]:
        placed = self.placed(instance_id)
        return [placed] if placed is not None else list(self.runtimes.values())

    def _volume(self, name: str, volume_dir: Path) -> Path:
        """Where runtime ``name`` keeps the volume the orchestrator calls ``volume_dir`` (named by instance id)."""
        own = getattr(self.runtimes[name], "volume_dir", None)  # a runtime keeping volumes on shared storage
        return own(volume_dir.name) if own is not None else volume_dir

    def _bring_volume(self, spec: InstanceSpec, name: str) -> None:
        """An instance whose type now runs elsewhere takes its volume along (stopped, so unmounted)."""
        target = volume_image(self._volume(name, spec.volume_dir))
        if target.exists():
            return
        for other in self.runtimes:
            source = volume_image(self._volume(other, spec.volume_dir))
            if other != name and source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(source, target)
                return

    async def _stop_elsewhere(self, instance_id: str, name: str) -> None:
        for other, runtime in self.runtimes.items():
            if other != name:
                await runtime.stop(instance_id)
