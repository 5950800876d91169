"""Stack exports (unique per account and region) and who imports them."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select

from selfmaker.services.cloudformation.calls import ResourceFailure
from selfmaker.services.cloudformation.tables import exports, imports, stacks


class Exports:
    def __init__(self, engine: Engine):
        self.engine = engine

    def value(self, account_id: str, region: str, name: str) -> str:
        """What Fn::ImportValue yields; a missing export fails the resource, as on AWS."""
        with self.engine.connect() as conn:
            value = conn.execute(select(exports.c.value).where(
                exports.c.account_id == account_id, exports.c.region == region, exports.c.name == name)).scalar()
        if value is None:
            raise ResourceFailure(f"No export named {name} found.")
        return value

    def listed(self, account_id: str, region: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(exports).where(exports.c.account_id == account_id, exports.c.region == region)
                                .order_by(exports.c.name)).all()
        return [{"ExportingStackId": row.stack_id, "Name": row.name, "Value": row.value} for row in rows]

    def publish(self, stack_id: str, account_id: str, region: str, new: dict[str, str], imported: set[str]) -> None:
        """Replace the stack's exports with ``new`` and its imports with ``imported``, refusing (with
        AWS's reason) an export another stack owns, or a change to one another stack imports."""
        with self.engine.begin() as conn:
            scope = (exports.c.account_id == account_id, exports.c.region == region)
            for name in new:
                owner = conn.execute(select(exports.c.stack_id).where(*scope, exports.c.name == name)).scalar()
                if owner is not None and owner != stack_id:
                    raise ResourceFailure(f"Export with name {name} is already exported by stack "
                                          f"{_stack_name(conn, owner)}")
            current = conn.execute(select(exports).where(*scope, exports.c.stack_id == stack_id)).all()
            for row in current:
                if new.get(row.name) == row.value:
                    continue
                users = _importers(conn, account_id, region, row.name, stack_id)
                if users:
                    verb = "update" if row.name in new else "delete"
                    raise ResourceFailure(f"Cannot {verb} export {row.name} as it is in use by {', '.join(users)}")
            conn.execute(delete(exports).where(*scope, exports.c.stack_id == stack_id))
            if new:
                conn.execute(insert(exports), [
                    {"account_id": account_id, "region": region, "name": name, "value": value, "stack_id": stack_id}
                    for name, value in new.items()
                ])
            conn.execute(delete(imports).where(imports.c.stack_id == stack_id))
            if imported:
                conn.execute(insert(imports), [
                    {"account_id": account_id, "region": region, "export_name": name, "stack_id": stack_id}
                    for name in sorted(imported)
                ])

    def in_use(self, stack_id: str) -> str | None:
        """Why the stack's exports cannot go (AWS's DELETE_FAILED reason), or None."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(exports).where(exports.c.stack_id == stack_id)).all():
                users = _importers(conn, row.account_id, row.region, row.name, stack_id)
                if users:
                    return f"Export {row.name} cannot be deleted as it is in use by {', '.join(users)}"
        return None

    def release(self, stack_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(exports).where(exports.c.stack_id == stack_id))
            conn.execute(delete(imports).where(imports.c.stack_id == stack_id))


def _stack_name(conn, stack_id: str) -> str:
    return conn.execute(select(stacks.c.name).where(stacks.c.stack_id == stack_id)).scalar() or stack_id


def _importers(conn, account_id: str, region: str, name: str, exporter: str) -> list[str]:
    rows = conn.execute(select(imports.c.stack_id).where(
        imports.c.account_id == account_id, imports.c.region == region, imports.c.export_name == name,
        imports.c.stack_id != exporter,
    )).scalars().all()
    return sorted(_stack_name(conn, stack_id) for stack_id in rows)
