// The console's only script: local times, the region picker, AWS-shaped links. Pages work without it,
// except the AWS-shaped links, whose route only a script can read (browsers never send the #fragment).
"use strict";

function localTimes(root) {
  const format = new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "medium", timeStyle: "medium" });
  for (const time of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!isNaN(moment)) {
      time.title = time.textContent;
      time.textContent = format.format(moment);
    }
  }
}

// A table wider than the screen scrolls inside its box: make that box reachable and named for the keyboard.
function scrollableTables(root) {
  for (const wrap of root.querySelectorAll(".table-wrap")) {
    if (wrap.scrollWidth > wrap.clientWidth) {
      const caption = wrap.querySelector("caption");
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : document.title);
    }
  }
}

// AWS console fragments → our paths. "$252F" is how the CloudWatch console writes "/" in its fragments.
function consoleLink(service, hash, region) {
  const awsDecode = (part) => decodeURIComponent(decodeURIComponent(part.replace(/\$/g, "%")));
  const [route, query = ""] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  params.set("region", region);
  if (service === "cloudformation") {
    const stacks = route.match(/^\/stacks(?:\/([a-z]+))?(?:\/([a-z]+))?/);
    if (stacks && stacks[1] === "create") {
      return (stacks[2] === "review" ? "/cloudformation/stacks/create/review?" : "/cloudformation/stacks/create?") + params;
    }
    if (stacks && stacks[1] && params.get("stackId")) {
      params.set("tab", stacks[1] === "stackinfo" ? "info" : stacks[1]);
      return "/cloudformation/stacks/detail?" + params;
    }
    return "/cloudformation/stacks?" + params;
  }
  if (service === "sagemaker") {
    const instance = route.match(/^\/notebook-instances\/([^/]+)/);
    if (instance) return "/sagemaker/notebook-instances/" + instance[1] + "?" + params;
    if (route.startsWith("/notebook-instance-lifecycle-config")) return "/sagemaker/lifecycle-configurations?" + params;
    return "/sagemaker/notebook-instances?" + params;
  }
  const logs = route.match(/^logsV2:log-groups(?:\/log-group\/([^/]+))?(?:\/log-events\/([^/?]+))?/);
  if (logs && logs[2]) {
    params.set("group", awsDecode(logs[1]));
    params.set("stream", awsDecode(logs[2]));
    return "/cloudwatch/log-events?" + params;
  }
  if (logs && logs[1]) {
    params.set("group", awsDecode(logs[1]));
    return "/cloudwatch/log-group?" + params;
  }
  return "/cloudwatch/log-groups?" + params;
}

function followConsoleLink() {
  const holder = document.querySelector("[data-console-link]");
  if (!holder) return;
  const service = location.pathname.split("/")[1];
  const region = new URLSearchParams(location.search).get("region") || "";
  location.replace(location.hash ? consoleLink(service, location.hash, region) : holder.dataset.consoleLink);
}

document.addEventListener("DOMContentLoaded", () => {
  followConsoleLink();
  localTimes(document);
  scrollableTables(document);
  window.addEventListener("resize", () => scrollableTables(document));
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const link of document.querySelectorAll("a[data-back]")) {
    link.addEventListener("click", (event) => {
      if (history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }
});
document.addEventListener("htmx:load", (event) => {
  localTimes(event.target);
  scrollableTables(event.target);
});
