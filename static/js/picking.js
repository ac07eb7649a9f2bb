// The picking bench: each scan (code + Enter, see scan.js) goes to the JSON API, is answered
// big, in colour and by a tone, and the pick list, its counts and the next tube follow in
// place; the page never reloads while picking. Without scripts the same form posts to the page
// and comes back, so nothing here is the only way to pick.
(function () {
  "use strict";
  const station = document.querySelector("[data-picking]");
  const scanner = window.biobank && window.biobank.scanStation;
  if (!station || !scanner) {
    return;
  }
  const form = station.querySelector("[data-scan-form]");
  const input = form.querySelector("input[name=barcode]");
  const aliquot = form.querySelector("input[name=aliquot_ml]");
  const panel = station.querySelector("[data-scan-feedback]");
  const table = station.querySelector("table.pick-list");
  const next = station.querySelector("[data-next-tube]");
  const refocus = scanner.keepFocus(input);
  const queue = scanner.createQueue({ note: station.querySelector("[data-queue-note]") });
  scanner.bindSoundToggle(station.querySelector("[data-sound-toggle]"));

  function rowFor(barcode) {
    return table && table.querySelector(`tr[data-barcode="${CSS.escape(barcode)}"]`);
  }

  // As the server writes it: the biobank's own time zone, 24-hour clock.
  const clock = new Intl.DateTimeFormat("en-US", {
    timeZone: station.dataset.timezone || undefined,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });

  function time(at) {
    const part = {};
    clock.formatToParts(new Date(at)).forEach(({ type, value }) => (part[type] = value));
    return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} ${part.timeZoneName}`;
  }

  function markPicked(row, tube) {
    row.classList.add("picked");
    const cell = row.lastElementChild;
    cell.replaceChildren();
    const badge = document.createElement("span");
    badge.className = "badge ok";
    badge.textContent = "picked";
    const when = document.createElement("span");
    when.className = "muted small";
    when.textContent = [tube.picked_at && time(tube.picked_at), tube.picked_by]
      .filter(Boolean)
      .join(" · ");
    cell.append(badge, " ", when);
  }

  function showNext(tube) {
    next.replaceChildren();
    next.classList.toggle("done", !tube);
    if (!tube) {
      next.textContent = "Every tube is picked: pack them into the outbound shipment.";
      return;
    }
    const code = document.createElement("code");
    code.className = "barcode";
    code.textContent = tube.display_barcode;
    const place = document.createElement("strong");
    place.textContent = tube.place;
    next.append("Next: ", code, " at ", place);
  }

  // The list as the server has it now (a colleague may pick at the same time): rows, counts
  // and the next tube. A tube the page does not list yet (an aliquot made at picking) needs
  // the server's own page.
  async function follow() {
    const answer = await scanner.callApi(station.dataset.listUrl);
    if (!answer.ok) {
      return;
    }
    const listed = answer.body;
    for (const tube of listed.rows) {
      const row = rowFor(tube.barcode);
      if (!row) {
        window.location.reload();
        return;
      }
      if (tube.picked && !row.classList.contains("picked")) {
        markPicked(row, tube);
      }
    }
    document.querySelector("[data-picked-count]").textContent = String(listed.picked);
    document.querySelector("[data-remaining-count]").textContent = String(listed.remaining);
    showNext(listed.next);
  }

  async function pick(text, volume) {
    const body = { barcode: text };
    if (volume !== "") {
      body.aliquot_ml = volume;
    }
    const answer = await scanner.callApi(station.dataset.pickUrl, { method: "POST", body });
    if (!answer.ok) {
      const fields = (answer.body && answer.body.errors) || {};
      scanner.showFeedback(panel, {
        outcome: "error",
        title: "Not picked",
        code: text,
        message: [answer.body.detail, ...Object.values(fields).flat()].filter(Boolean).join(" "),
      });
      scanner.beep("error");
      return;
    }
    const picked = answer.body;
    scanner.showFeedback(panel, {
      outcome: picked.already ? "duplicate" : "added",
      title: picked.already ? "Picked already" : "Picked",
      code: picked.display_barcode,
      message: picked.message,
    });
    scanner.beep(picked.already ? "duplicate" : "ok");
    if (aliquot && volume !== "") {
      aliquot.value = "";
    }
    await follow();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    const volume = aliquot ? aliquot.value.trim() : "";
    input.value = ""; // ready for the next scan before this one is answered
    refocus();
    if (text !== "") {
      queue.add(() => pick(text, volume));
    }
  });
})();
