// Flotilla dashboard. Plain JavaScript, no build step, nothing loaded from
// elsewhere. It polls /api/fleet every pollInterval (one consistent read with
// the user's credentials per poll; the server shares reads between tabs) and
// redraws; actions POST to /api/rollouts/{ns}/{name}/{action}.
"use strict";

(function () {
  const pollInterval = 2000;
  const token = document.querySelector('meta[name="flotilla-token"]').content;

  // state the redraws keep
  let view = null;
  let groupBy = "wave";
  let timer = null;
  const cards = new Map(); // "ns/name" -> card
  const busy = new Set(); // rollouts with an action in flight

  // ---- helpers ---------------------------------------------------------

  // el builds an element: attributes (on* are listeners, dataset via data-*)
  // and children (strings become text, never HTML).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: { "X-Flotilla-Token": token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error((data && data.error) || res.status + " " + res.statusText);
      err.status = res.status;
      err.reason = data && data.reason;
      throw err;
    }
    return data;
  }

  const n = (x) => x || 0;

  // A view built from what the user may list is partial when RBAC hides a
  // list: what it would hold is unknown, never idle or zero.
  const seen = (v) => v.visibility || {};
  const known = (v, list) => seen(v)[list] !== "Hidden";
  const onlyIn = (v, list) => (seen(v)[list] === "Namespace" ? seen(v).namespace || "your namespace" : "");
  const hiddenText = "hidden";
  const plural = (count, word) => count + " " + word + (count === 1 ? "" : "s");

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
  }

  function age(fromIso, nowIso) {
    if (!fromIso) return "never";
    const s = Math.max(0, Math.round((new Date(nowIso) - new Date(fromIso)) / 1000));
    if (s < 120) return s + "s ago";
    if (s < 7200) return Math.round(s / 60) + "m ago";
    if (s < 172800) return Math.round(s / 3600) + "h ago";
    return Math.round(s / 86400) + "d ago";
  }

  // Revision colours: per Promise, the latest revision is blue and the
  // others take the next colours of a fixed palette in the order of their
  // names, so a revision has the same colour in the grid and in its chart,
  // and no two revisions of a Promise share one.
  const palette = ["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#827717", "#4527a0", "#4e342e", "#00695c", "#37474f"];
  let colours = new Map(); // promise -> Map(revision -> colour)
  function assignColours(v) {
    colours = new Map();
    const revsOf = new Map();
    const add = (p, r) => {
      if (!revsOf.has(p)) revsOf.set(p, new Set());
      if (r !== "(pending)" && r !== "(mixed)") revsOf.get(p).add(r);
    };
    for (const p of v.promises || []) {
      if (p.latestRevision) add(p.name, p.latestRevision); // blue even before any cluster runs it
      for (const r of p.revisions || []) add(p.name, r.revision);
    }
    for (const t of v.tiles || []) for (const [p, r] of Object.entries(t.revisions || {})) add(p, r);
    const latest = new Map((v.promises || []).map((p) => [p.name, p.latestRevision]));
    for (const [p, revs] of revsOf) {
      const ordered = [...revs].sort((a, b) => (a === latest.get(p) ? -1 : b === latest.get(p) ? 1 : b.localeCompare(a)));
      colours.set(p, new Map(ordered.map((r, i) => [r, palette[i % palette.length]])));
    }
  }
  function paintRev(node, promise, rev) {
    if (rev === "(pending)") node.classList.add("rev-pending");
    else if (rev === "(mixed)") node.classList.add("rev-mixed");
    else node.style.background = (colours.get(promise) || new Map()).get(rev) || palette[palette.length - 1];
  }
  function revChip(promise, rev) {
    const chip = el("span", { class: "chip", "aria-hidden": "true" });
    paintRev(chip, promise, rev);
    return chip;
  }

  // ---- header ------------------------------------------------------------

  function renderHeader(v) {
    const c = v.clusters || {};
    // A count read from a hidden list says "hidden", not 0.
    const item = (label, value, bad, id, list) => {
      const isHidden = list && !known(v, list);
      return el("div", {
        class: (bad && !isHidden ? "bad" : "") + (isHidden ? " unknown" : ""), "data-testid": id, "data-hidden": isHidden ? "true" : undefined,
        title: isHidden ? "unknown: your credentials may not list " + list : undefined,
      }, el("dt", { text: label }), el("dd", { text: isHidden ? hiddenText : value }));
    };
    const ns = onlyIn(v, "rollouts");
    document.getElementById("counts").replaceChildren(
      item("clusters", n(c.total), false, "count-total", "clusters"),
      item("available", n(c.available), false, "count-available", "clusters"),
      item("offline", n(c.offline), n(c.offline) > 0, "count-offline", "clusters"),
      item("unknown", n(c.unknown), false, "count-unknown", "clusters"),
      item("failing Works", n(v.failureCount), n(v.failureCount) > 0, "count-failures", "works"),
      item("rollouts in flight" + (ns ? " in " + ns : ""), (v.rollouts || []).filter((r) => !r.finished).length, false, "count-rollouts", "rollouts"),
      item("unexplained drift", n(drift(v).resources.unexplained), n(drift(v).resources.unexplained) > 0, "count-drift", "works"),
    );
    document.getElementById("freezes").replaceChildren(
      ...(v.freezes || []).map((f) =>
        el("div", { class: "banner freeze", role: "status", "data-testid": "freeze", "data-freeze": f.name },
          el("strong", { text: "Fleet frozen (" + f.name + ")" }),
          ": " + f.reason + (f.action === "Rollback" ? " — rolling back what is in flight" : "") +
          (f.frozenBy ? " · by " + f.frozenBy : "") + (f.until ? " · until " + fmtTime(f.until) : "") +
          " · holds " + n(f.held) + " rollout(s)")),
    );
    const hidden = document.getElementById("hidden-notice");
    if (v.hidden && v.hidden.length) {
      hidden.replaceChildren(el("strong", { text: "Partial view — hidden by RBAC: " }),
        "your credentials may not list " + v.hidden.join(", ") + ". What they would show is unknown: " +
        "the page marks it hidden, never idle or zero.");
      hidden.hidden = false;
    } else {
      hidden.hidden = true;
    }
    document.getElementById("updated").textContent = "updated " + fmtTime(v.generatedAt);
  }

  // ---- fleet grid ----------------------------------------------------------

  function updateGroupOptions(tiles) {
    const select = document.getElementById("group-by");
    const keys = new Set();
    for (const t of tiles) for (const k of Object.keys(t.labels || {})) keys.add(k);
    const have = new Set([...select.options].map((o) => o.value));
    for (const k of [...keys].sort()) {
      const value = "label:" + k;
      if (!have.has(value)) select.append(el("option", { value, text: "label " + k }));
    }
  }

  function groupTiles(v) {
    const tiles = v.tiles || [];
    const groups = new Map();
    const add = (key, t) => {
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(t);
    };
    if (groupBy === "wave") {
      // Waves in the order the rollouts run them, then the rest.
      for (const r of v.rollouts || []) {
        if (r.finished) continue;
        for (const w of r.waves || []) groups.set(r.namespace + "/" + r.name + " · wave " + w.name, []);
      }
      for (const t of tiles) add(t.rollout ? t.rollout + " · wave " + t.wave : "not in a rollout in flight", t);
    } else if (groupBy.startsWith("label:")) {
      const key = groupBy.slice(6);
      for (const t of tiles) add(key + "=" + ((t.labels || {})[key] ?? "(none)"), t);
      return new Map([...groups].sort((a, b) => a[0].localeCompare(b[0])));
    } else {
      for (const t of tiles) add("all clusters", t);
    }
    for (const [k, ts] of groups) if (!ts.length) groups.delete(k);
    return groups;
  }

  function tile(t) {
    const revs = Object.entries(t.revisions || {}).sort((a, b) => a[0].localeCompare(b[0]));
    const summary = t.name + ": " + t.health + (t.reason ? " (" + t.reason + ")" : "") +
      revs.map(([p, r]) => "; " + p + " " + r).join("") + (t.wave ? "; wave " + t.wave : "");
    return el("li", {
      class: "tile health-" + t.health, tabindex: "0", title: summary, "aria-label": summary,
      "data-testid": "cluster-tile", "data-cluster": t.name, "data-health": t.health,
    },
    el("span", { class: "name", text: t.name }),
    el("span", { class: "health", text: (t.health === "Hidden" ? "Hidden · Works unknown" : t.health) + (t.failed ? " · " + t.failed + " failing" : "") }),
    el("ul", { class: "revs" }, revs.map(([p, r]) =>
      el("li", { "data-promise": p, "data-revision": r }, revChip(p, r), el("span", { text: p + ": " + r })))));
  }

  function renderGrid(v) {
    updateGroupOptions(v.tiles || []);
    const grid = document.getElementById("grid");
    if (!known(v, "clusters")) {
      grid.replaceChildren(el("p", { class: "empty", "data-testid": "clusters-hidden", text: "Clusters are hidden: your credentials may not list them." }));
      return;
    }
    if (!(v.tiles || []).length) {
      grid.replaceChildren(el("p", { class: "empty", text: "No clusters you may see." }));
      return;
    }
    const groups = groupTiles(v);
    grid.replaceChildren(...[...groups].map(([name, ts]) =>
      el("section", { class: "group", "data-testid": "tile-group", "data-group": name, "aria-label": name },
        groups.size > 1 || groupBy !== "none" ? el("h3", { text: name + " (" + ts.length + ")" }) : null,
        el("ul", { class: "tiles" }, ts.map(tile)))));
  }

  // ---- versions per Promise ---------------------------------------------

  function renderPromises(v) {
    const box = document.getElementById("promises");
    const promises = v.promises || [];
    if (!promises.length) {
      box.replaceChildren(el("p", { class: "empty", text: "No Promises you may see." }));
      return;
    }
    if (!known(v, "works")) {
      // Which cluster runs which revision comes from Works.
      box.replaceChildren(el("p", { class: "empty", "data-testid": "versions-hidden",
        text: "Which clusters run which revision is hidden: your credentials may not list Works." }),
      ...promises.map((p) => el("div", { class: "promise", "data-testid": "promise-chart", "data-promise": p.name, "data-hidden": "true" },
        el("h3", {}, p.name, el("small", {
          text: (p.latestRevision ? "latest " + p.latestRevision + " · " : "") + plural(n(p.instances), "instance") + " · clusters hidden",
        })))));
      return;
    }
    box.replaceChildren(...promises.map((p) => {
      const total = n(p.clusters);
      const revs = p.revisions || [];
      // The legend keeps the latest revision, at 0% before any cluster runs it.
      const legend = revs.some((r) => r.revision === p.latestRevision) || !p.latestRevision
        ? revs : [{ revision: p.latestRevision, clusters: 0, percent: 0, latest: true }, ...revs];
      const label = p.name + ": " + (revs.length
        ? revs.map((r) => r.revision + " " + r.percent + "% healthy (" + n(r.healthy) + " of " + r.clusters + " clusters)").join(", ")
        : "on no cluster yet");
      return el("div", { class: "promise", "data-testid": "promise-chart", "data-promise": p.name },
        el("h3", {}, p.name, el("small", {
          text: (p.latestRevision ? "latest " + p.latestRevision + " · " : "") + plural(n(p.instances), "instance") + " · " + plural(total, "cluster"),
        })),
        // A revision counts where it is healthy; clusters that applied it but
        // are not healthy get a hatched segment of their own.
        el("div", { class: "stack", role: "img", "aria-label": label }, revs.flatMap((r) => {
          const seg = el("div", {
            class: "segment", title: r.revision + ": " + n(r.healthy) + " of " + r.clusters + " clusters healthy, " + r.percent + "%",
            "data-testid": "revision-segment", "data-revision": r.revision, "data-clusters": r.clusters, "data-healthy": n(r.healthy),
          }, n(r.healthy) / total >= 0.12 ? r.percent + "%" : "");
          seg.style.width = (total ? (100 * n(r.healthy)) / total : 0) + "%";
          paintRev(seg, p.name, r.revision);
          if (!n(r.notHealthy)) return [seg];
          const bad = el("div", {
            class: "segment not-healthy", title: r.revision + ": " + n(r.notHealthy) + " clusters applied it but are not healthy",
            "data-testid": "revision-segment-not-healthy", "data-revision": r.revision,
          }, n(r.notHealthy) / total >= 0.12 ? n(r.notHealthyPercent) + "%" : "");
          bad.style.width = (total ? (100 * n(r.notHealthy)) / total : 0) + "%";
          paintRev(bad, p.name, r.revision);
          return [seg, bad];
        })),
        el("ul", { class: "legend", "data-testid": "revision-legend" }, legend.map((r) =>
          el("li", { "data-revision": r.revision, "data-latest": r.latest ? "true" : undefined }, revChip(p.name, r.revision), el("span", {
            text: r.revision + (r.latest ? " (latest)" : "") + " — " + plural(n(r.healthy), "cluster") + " healthy, " + r.percent + "%" +
              (n(r.notHealthy) ? "; " + n(r.notHealthy) + " applied, not healthy" : ""),
          })))));
    }));
  }

  // ---- rollouts ------------------------------------------------------------

  function key(r) { return r.namespace + "/" + r.name; }

  function card(r) {
    const k = key(r);
    let c = cards.get(k);
    if (c) return c;
    const message = el("input", {
      type: "text", maxlength: "1024", placeholder: "why (recorded in the rollout's history)",
      "data-testid": "action-message", "aria-label": "Message for actions on rollout " + k,
    });
    const status = el("p", { class: "action-status", role: "status", "aria-live": "polite", "data-testid": "action-status" });
    const historyBody = el("div", {});
    const history = el("details", { "data-testid": "history" }, el("summary", { text: "History" }), historyBody);
    history.addEventListener("toggle", () => { if (history.open) loadHistory(c); });
    const button = (action, text, cls) => el("button", {
      type: "button", class: cls, "data-testid": action, "data-action": action,
      "aria-label": text + " rollout " + k, onclick: () => act(c, action),
    }, text);
    const bodyId = "rollout-body-" + k.replace(/[^A-Za-z0-9_-]/g, "_");
    c = {
      key: k, ns: r.namespace, name: r.name, message, status, history, historyBody,
      expanded: false, // a finished card's details, opened by the user
      head: el("div", { class: "rollout-head" }),
      what: el("p", { class: "what" }),
      text: el("p", { class: "message" }),
      failures: el("div", { class: "rollout-failures" }),
      waves: el("ol", { class: "waves", "aria-label": "Waves of rollout " + k }),
      controls: null,
      body: null,
      toggle: el("button", {
        type: "button", class: "toggle", "data-testid": "rollout-toggle", "aria-controls": bodyId,
        onclick: () => { c.expanded = !c.expanded; renderCard(c.data); },
      }),
      buttons: {
        pause: button("pause", "Pause"),
        resume: button("resume", "Resume"),
        rollback: button("rollback", "Roll back", "danger"),
      },
    };
    c.controls = el("div", { class: "controls" }, el("label", {}, "Message", message),
      c.buttons.pause, c.buttons.resume, c.buttons.rollback);
    c.body = el("div", { class: "rollout-body", id: bodyId, "data-testid": "rollout-body" },
      c.what, c.text, c.failures, c.waves, c.controls, status, history);
    c.node = el("article", { class: "rollout", "data-testid": "rollout", "data-rollout": k, "aria-label": "Rollout " + k },
      c.head, c.body);
    cards.set(k, c);
    return c;
  }

  function progressBar(counts, label) {
    const total = n(counts.total);
    const healthy = n(counts.healthy), failed = n(counts.failed);
    const inProgress = Math.max(0, n(counts.admitted) - healthy - failed);
    const pct = (x) => (total ? (100 * x) / total : 0) + "%";
    const part = (cls, x) => { const s = el("span", { class: cls }); s.style.width = pct(x); return s; };
    return el("div", {
      class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0",
      "aria-valuemax": String(total), "aria-valuenow": String(healthy),
      "aria-valuetext": healthy + " of " + total + " healthy, " + failed + " failed, " + inProgress + " in progress",
    }, part("healthy", healthy), part("failed", failed), part("admitted", inProgress));
  }

  // failedCount is how many clusters the Rollout counts as failed: it keeps
  // the newest failures (bounded) and counts them all.
  const failedCount = (r) => Math.max(n(r.failureCount), (r.failures || []).length);

  // outcome is a finished Rollout's result in a few words.
  function outcome(r) {
    const c = r.counts || {};
    let s;
    switch (r.phase) {
      case "Succeeded": s = n(c.healthy) + " of " + n(c.total) + " clusters healthy on " + r.targetRevision; break;
      case "RolledBack": s = "rolled back to " + (r.rollbackRevision || r.fromRevision || "the previous revision"); break;
      case "Aborted": s = "aborted; clusters stay where they were (" + n(r.percentOnTarget) + "% on target)"; break;
      case "Superseded": s = "superseded by a newer rollout"; break;
      case "Failed": s = "failed (" + n(r.percentOnTarget) + "% on target)"; break;
      default: s = n(r.percentOnTarget) + "% on target";
    }
    const failed = failedCount(r);
    if (failed && r.rollbackRevision) return s + " · after " + plural(failed, "failed cluster");
    return failed ? s + " · " + plural(failed, "failed cluster") : s;
  }

  // failureList lists the clusters the Rollout counts as failed, each with
  // its wave and cause (reason: message).
  function failureList(r, k) {
    const fs = r.failures || [];
    if (!fs.length) return [];
    const more = failedCount(r) - fs.length;
    return [
      el("h4", { text: (r.rollbackRevision ? "Failures that led to the rollback (" : "Failed clusters (") + failedCount(r) + ")" }),
      el("ul", { class: "failed-clusters", "data-testid": "rollout-failures", "aria-label": "Failed clusters of rollout " + k },
        fs.map((f) => el("li", { "data-testid": "rollout-failure", "data-cluster": f.cluster, "data-wave": f.wave || undefined, "data-reason": f.reason || undefined },
          el("strong", { class: "cluster", text: f.cluster }),
          f.wave ? el("span", { class: "muted", text: " · wave " + f.wave }) : null,
          el("span", { class: "reason", text: " · " + (f.reason || "no reason reported") }),
          f.message ? el("span", { class: "cause", text: ": " + f.message }) : null))),
      more > 0 ? el("p", { class: "muted", "data-testid": "rollout-failures-more", text: "and " + more + " more (the Rollout keeps the newest)" }) : null,
    ];
  }

  function renderCard(r) {
    const c = card(r);
    c.data = r;
    c.node.dataset.phase = r.phase;
    const finished = !!r.finished;
    // A finished Rollout is compact: name, phase, outcome and time, with
    // its details behind a toggle.
    const compact = finished && !c.expanded;
    c.node.classList.toggle("finished", finished);
    c.node.classList.toggle("compact", compact);
    c.node.dataset.compact = compact ? "true" : "false";
    c.body.hidden = compact;
    c.toggle.textContent = c.expanded ? "Hide details" : "Details";
    c.toggle.setAttribute("aria-expanded", String(!compact));
    c.toggle.setAttribute("aria-label", (c.expanded ? "Hide details of" : "Show details of") + " rollout " + c.key);
    const what = "Promise " + r.promise + (r.instance ? " · instance " + r.instance : "") + " · " +
      (r.fromRevision || "(first)") + " → " + r.targetRevision + (r.namespace !== "flotilla-system" ? " · namespace " + r.namespace : "");
    if (finished) {
      c.head.replaceChildren(
        el("h3", { text: r.name }),
        el("span", { class: "phase phase-" + (r.outcome || r.phase), "data-testid": "rollout-phase", text: r.outcome || r.phase }),
        el("span", { class: "outcome", "data-testid": "rollout-outcome", text: outcome(r) }),
        el("span", {
          class: "when", "data-testid": "rollout-time", title: r.completedAt ? fmtTime(r.completedAt) : undefined,
          text: r.completedAt ? "finished " + age(r.completedAt, view ? view.generatedAt : r.completedAt) : "finished",
        }),
        c.toggle,
      );
      c.what.textContent = what;
      c.what.hidden = false;
    } else {
      c.head.replaceChildren(
        el("h3", { text: r.name }),
        el("span", { class: "phase phase-" + (r.outcome || r.phase), "data-testid": "rollout-phase", text: r.outcome || r.phase }),
        el("span", { class: "what", text: what }),
        el("span", { class: "pct", "data-testid": "percent-on-target", text: n(r.percentOnTarget) + "% on target" }),
      );
      c.what.hidden = true;
    }
    c.controls.hidden = finished;
    c.failures.replaceChildren(...failureList(r, c.key).filter(Boolean));
    c.text.textContent = r.message || "";
    c.text.hidden = !r.message;
    const waves = r.waves || [];
    c.waves.replaceChildren(...(waves.length ? waves : []).map((w) => {
      const counts = w.counts || {};
      const awaiting = r.awaitingApproval === w.name && !r.finished;
      const li = el("li", {
        class: "wave" + (w.name === r.currentWave && !r.finished ? " current" : "") + (awaiting ? " awaiting" : ""),
        "data-testid": "wave", "data-wave": w.name, "data-phase": w.phase,
      },
      el("div", { class: "wave-top" },
        el("span", { class: "wave-name", text: w.name }),
        el("span", { class: "phase phase-" + w.phase, text: w.phase })),
      progressBar(counts, "wave " + w.name + " of rollout " + c.key),
      el("div", { class: "wave-counts", text: n(counts.healthy) + "/" + n(counts.total) + " healthy · " + n(counts.admitted) + " admitted" +
        (n(counts.failed) ? " · " + n(counts.failed) + " failed" : "") + (n(counts.offline) ? " · " + n(counts.offline) + " offline" : "") }),
      ...(w.checks || []).map((ck) => el("div", {
        class: "check check-" + ck.verdict, "data-testid": "wave-check", "data-check": ck.name, "data-verdict": ck.verdict,
        title: ck.message || "",
        text: "check " + ck.name + ": " + ck.verdict +
          (ck.scope === "Wave" || !ck.counts ? "" : " (" + n(ck.counts.passed) + " passed, " + n(ck.counts.failed) + " failed, " +
            n(ck.counts.inconclusive) + " inconclusive)") +
          (ck.skipped ? " by " + (ck.skipped.by || "unknown") + ": " + (ck.skipped.message || "") :
            (ck.verdict === "Failed" || ck.verdict === "Inconclusive") && ck.message ? " — " + ck.message : ""),
      })),
      w.approval ? el("div", { class: "approval", "data-testid": "wave-approval",
        text: "approved by " + (w.approval.by || "unknown") + (w.approval.at ? " at " + fmtTime(w.approval.at) : "") }) : null,
      awaiting ? el("button", {
        type: "button", class: "primary", "data-testid": "approve", "data-action": "approve", "data-wave": w.name,
        "aria-label": "Approve wave " + w.name + " of rollout " + c.key, disabled: busy.has(c.key),
        onclick: () => act(c, "approve", { wave: w.name }),
      }, "Approve " + w.name) : null);
      return li;
    }));
    if (!waves.length) c.waves.replaceChildren(el("li", { class: "empty", text: "no waves yet (the target set is not frozen)" }));
    const terminal = !!r.finished;
    const b = c.buttons;
    const isBusy = busy.has(c.key);
    b.pause.disabled = isBusy || terminal || r.phase === "Paused" || r.phase === "RollingBack";
    b.resume.disabled = isBusy || terminal || !(r.phase === "Paused" || r.phase === "Halted");
    b.rollback.disabled = isBusy || terminal || !r.fromRevision || r.phase === "RollingBack";
    if (c.history.open) loadHistory(c);
    return c;
  }

  const partialNote = el("p", { class: "muted partial", "data-testid": "rollouts-partial" });

  function renderRollouts(v) {
    const box = document.getElementById("rollouts");
    const rollouts = known(v, "rollouts") ? v.rollouts || [] : [];
    const present = new Set(rollouts.map(key));
    for (const [k, c] of cards) if (!present.has(k)) { c.node.remove(); cards.delete(k); }
    const nodes = rollouts.map((r) => renderCard(r).node);
    const ns = onlyIn(v, "rollouts");
    if (!known(v, "rollouts")) {
      box.replaceChildren(el("p", { class: "empty", "data-testid": "rollouts-hidden", text: "Rollouts are hidden: your credentials may not list them." }));
      return;
    }
    if (ns) {
      // Only one namespace's Rollouts: say so before them (one node, kept,
      // so the cards below are not moved on every poll).
      partialNote.textContent = (nodes.length ? "Rollouts in namespace " + ns + " only" : "No rollouts in namespace " + ns) +
        "; the others are hidden: your credentials may not list them.";
      nodes.unshift(partialNote);
    }
    if (!nodes.length) {
      box.replaceChildren(el("p", { class: "empty", text: "No rollouts you may see." }));
      return;
    }
    // Move nodes only when the order changed, so focus and typing survive.
    const current = [...box.children];
    if (current.length !== nodes.length || current.some((x, i) => x !== nodes[i])) box.replaceChildren(...nodes);
  }

  async function loadHistory(c) {
    try {
      const d = await api("GET", "/api/rollouts/" + encodeURIComponent(c.ns) + "/" + encodeURIComponent(c.name));
      const rows = (d.history || []).map((h) => el("tr", { "data-testid": "history-row" },
        el("td", { text: fmtTime(h.time) }),
        el("td", { text: (h.from ? h.from + " → " : "") + h.to }),
        el("td", { text: h.wave || "" }),
        el("td", { "data-testid": "history-actor", text: h.actor || "" }),
        el("td", { text: h.message || "" })));
      const approvals = (d.approvals || []).map((a) => "wave " + a.wave + " by " + (a.by || "unknown") + (a.at ? " at " + fmtTime(a.at) : ""));
      c.historyBody.replaceChildren(...[
        approvals.length ? el("p", { class: "muted", text: "Approvals: " + approvals.join("; ") }) : null,
        d.stateChange ? el("p", { class: "muted", text: "Desired state " + (d.desiredState || "Running") + " (by " + (d.stateChange.by || "unknown") + ")" }) : null,
        rows.length
          ? el("table", {}, el("thead", {}, el("tr", {}, ["Time", "Phase", "Wave", "By", "Message"].map((h) => el("th", { scope: "col", text: h })))),
            el("tbody", {}, rows))
          : el("p", { class: "empty", text: "No history yet." }),
      ].filter(Boolean));
    } catch (e) {
      c.historyBody.replaceChildren(el("p", { class: "action-status error", text: e.message }));
    }
  }

  async function act(c, action, extra) {
    if (busy.has(c.key)) return;
    if (action === "rollback" && !window.confirm("Roll back rollout " + c.key + " to " + (c.data.fromRevision || "its previous revision") +
      "? Every cluster on " + c.data.targetRevision + " goes back at once, and the request cannot be withdrawn.")) return;
    busy.add(c.key);
    c.status.className = "action-status";
    c.status.textContent = action + "…";
    renderCard(c.data);
    try {
      const res = await api("POST", "/api/rollouts/" + encodeURIComponent(c.ns) + "/" + encodeURIComponent(c.name) + "/" + action,
        Object.assign({ message: c.message.value }, extra || {}));
      c.status.className = "action-status ok";
      c.status.textContent = [new Date().toISOString().slice(11, 19) + "Z", res.summary, ...(res.notes || []).map((x) => "Note: " + x)].join(" ");
      c.message.value = "";
    } catch (e) {
      c.status.className = "action-status error";
      c.status.textContent = new Date().toISOString().slice(11, 19) + "Z " + (e.status === 403 ? "Forbidden: " : "Refused: ") + e.message;
    } finally {
      busy.delete(c.key);
    }
    await refresh();
  }

  // ---- failures ------------------------------------------------------------

  function renderFailures(v) {
    const failures = v.failures || [];
    const body = document.getElementById("failure-rows");
    if (!known(v, "works")) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "empty", "data-testid": "failures-hidden",
        text: "Failing Works are hidden: your credentials may not list Works." })));
    } else body.replaceChildren(...(failures.length ? failures.map((f) => el("tr", {
      "data-testid": "failure-row", "data-cluster": f.cluster, "data-work": f.work,
    },
    el("td", { text: f.cluster }), el("td", { text: f.promise }), el("td", { text: f.instance || "—" }),
    el("td", { text: f.revision }), el("td", { class: "reason", text: f.reason || "" }),
    el("td", { text: f.message || "" }))) : [el("tr", {}, el("td", { colspan: "6", class: "empty", text: "No failing Works." }))]));
    const more = document.getElementById("failures-more");
    more.hidden = n(v.failureCount) <= failures.length;
    more.textContent = "Showing " + failures.length + " of " + n(v.failureCount) + " failing Works.";
    const offline = v.offline || [];
    if (!known(v, "clusters")) {
      document.getElementById("offline").replaceChildren(el("li", { class: "empty", text: "Hidden: your credentials may not list Clusters." }));
      return;
    }
    document.getElementById("offline").replaceChildren(...(offline.length ? offline.map((o) =>
      el("li", { "data-testid": "offline-cluster", "data-cluster": o.cluster },
        el("strong", { text: o.cluster }), " — last heartbeat " + age(o.lastHeartbeat, v.generatedAt) + (o.reason ? " · " + o.reason : "")))
      : [el("li", { class: "empty", text: "None." })]));
  }

  // ---- drift ---------------------------------------------------------------

  function drift(v) {
    const d = v.drift || {};
    return { resources: d.resources || {}, clusters: d.clusters || {}, items: d.items || [] };
  }

  // resourceName is Kind[.group]/[namespace/]name, as `flotilla drift` prints it.
  function resourceName(r) {
    return r.kind + (r.group ? "." + r.group : "") + "/" + (r.namespace ? r.namespace + "/" : "") + r.name;
  }

  function describeException(e, nowIso) {
    if (!e) return "—";
    let s = (e.namespace ? e.namespace + "/" : "") + e.name;
    const parts = [];
    if (e.owner) parts.push(e.owner);
    if (e.declaredBy && e.declaredBy !== e.owner) parts.push("declared by " + e.declaredBy);
    if (e.expiresAt) {
      const left = new Date(e.expiresAt) - new Date(nowIso);
      parts.push(left > 0 ? "expires " + fmtTime(e.expiresAt) : "expired " + age(e.expiresAt, nowIso));
    }
    if (parts.length) s += " (" + parts.join(", ") + ")";
    return s;
  }

  // driftFields lists a row's drifted fields, then in brackets the fields an
  // exception accepts on the same resource while the rest is unexplained.
  function driftFields(r) {
    let s = (r.fields || []).join(", ") || "—";
    if (r.acceptedFields && r.acceptedFields.length) s += " [accepted: " + r.acceptedFields.join(", ") + "]";
    return s;
  }

  function renderDrift(v) {
    const d = drift(v);
    const total = n(d.resources.total);
    if (!known(v, "works")) {
      document.getElementById("drift-summary").textContent = "Drift is hidden: your credentials may not list Works.";
      document.getElementById("drift-rows").replaceChildren();
      document.getElementById("drift-more").hidden = true;
      return;
    }
    document.getElementById("drift-summary").textContent = plural(total, "resource") + " drifted on " +
      plural(n(d.clusters.total), "cluster") + ": " + n(d.resources.unexplained) + " unexplained, " +
      n(d.resources.accepted) + " accepted";
    const body = document.getElementById("drift-rows");
    body.replaceChildren(...(d.items.length ? d.items.map((r) => el("tr", {
      class: "drift-" + r.state, "data-testid": "drift-row", "data-cluster": r.cluster, "data-state": r.state,
    },
    el("td", { text: r.cluster }), el("td", { text: r.promise }), el("td", { text: r.instance || "—" }),
    el("td", { text: resourceName(r) }), el("td", { class: "state", text: r.state }),
    el("td", { class: "fields", text: driftFields(r) }), el("td", { text: r.by || "—" }),
    el("td", { text: r.since ? age(r.since, v.generatedAt).replace(/ ago$/, "") : "—", title: r.since ? fmtTime(r.since) : undefined }),
    el("td", { text: describeException(r.exception, v.generatedAt), title: (r.exception && r.exception.reason) || undefined })))
      : [el("tr", {}, el("td", { colspan: "9", class: "empty", text: "No drift." }))]));
    const more = document.getElementById("drift-more");
    more.hidden = total <= d.items.length;
    more.textContent = "Showing " + d.items.length + " of " + total + " drifted resources; flotilla drift lists them all.";
  }

  // ---- loop ----------------------------------------------------------------

  function render(v) {
    assignColours(v);
    renderHeader(v);
    renderGrid(v);
    renderPromises(v);
    renderRollouts(v);
    renderFailures(v);
    renderDrift(v);
    document.body.dataset.loaded = "true";
    document.body.dataset.generatedAt = v.generatedAt;
  }

  // refresh reads the fleet and redraws. Calls may overlap (an action
  // refreshes at once): only the newest call renders and schedules the next.
  let calls = 0;
  async function refresh() {
    clearTimeout(timer);
    const call = ++calls;
    const banner = document.getElementById("load-error");
    try {
      const v = await api("GET", "/api/fleet");
      if (call !== calls) return;
      view = v;
      banner.hidden = true;
      render(view);
    } catch (e) {
      if (call !== calls) return;
      banner.textContent = "Cannot read the fleet: " + e.message + (view ? " (showing the last answer)" : "");
      banner.hidden = false;
    }
    if (!document.hidden) timer = setTimeout(refresh, pollInterval);
  }

  document.getElementById("group-by").addEventListener("change", (e) => {
    groupBy = e.target.value;
    if (view) renderGrid(view);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });
  api("GET", "/api/whoami")
    .then((w) => { document.getElementById("identity").textContent = "as " + w.user; })
    .catch((e) => { document.getElementById("identity").textContent = "identity unknown (" + e.message + ")"; });
  refresh();
})();
