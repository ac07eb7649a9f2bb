// The receiving bench. Each scan (code + Enter, see scan.js) is sent on its own to
// POST /api/v1/shipments/<id>/receipt/scans, in scan order, and answered on screen and by
// ear: expected (green, one beep), duplicate (amber, two beeps), unexpected (purple, up and
// down), refused (red, low buzz). Counts come from each answer; the still-to-scan list
// shrinks as tubes arrive and is checked against GET …/receipt when scanning pauses (another
// bench may be scanning the same box). The page never reloads, and what it keeps is bounded
// (the last HISTORY_LIMIT scans), so scan 300 is as quick as scan 1.
(function () {
  "use strict";
  const station = document.querySelector("[data-receiving]");
  const scanner = window.biobank && window.biobank.scanStation;
  if (!station || !scanner) {
    return;
  }
  const HISTORY_LIMIT = 20;
  const RECHECK_AFTER_MS = 2000;
  const TITLES = {
    expected: "Received",
    duplicate: "Scanned already",
    unexpected: "Not on the manifest",
  };
  const ERROR_TITLES = {
    0: "Not sent",
    401: "Not recorded: log in again",
    404: "Unknown tube",
    409: "Refused",
    422: "Not a tube ID",
  };

  const form = station.querySelector("[data-scan-form]");
  const input = form.querySelector("input[name=barcode]");
  const damaged = form.querySelector("[data-damaged]");
  const panel = station.querySelector("[data-scan-feedback]");
  const queueNote = station.querySelector("[data-queue-note]");
  const history = station.querySelector("[data-scan-history]");
  const historyEmpty = station.querySelector("[data-history-empty]");
  const missingList = station.querySelector("[data-missing-list]");
  const missingEmpty = station.querySelector("[data-missing-empty]");
  const closeForm = document.querySelector("#close form");
  const clock = new Intl.DateTimeFormat(undefined, {
    timeZone: station.dataset.siteTimezone || undefined,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  const refocus = scanner.keepFocus(input);
  const queue = scanner.createQueue({ note: queueNote, onChange: afterQueueChange });
  let recheckTimer = null;
  scanner.bindSoundToggle(station.querySelector("[data-sound-toggle]"));

  // --- counts, the still-to-scan list, the history ----------------------------------------

  function showCounts(counts) {
    document.querySelectorAll("[data-count]").forEach(function (element) {
      const value = counts[element.dataset.count];
      if (value !== undefined) {
        element.textContent = String(value);
      }
    });
  }

  function arrived(barcode) {
    const row = missingList.querySelector(`li[data-barcode="${CSS.escape(barcode)}"]`);
    if (row) {
      row.remove();
    }
    missingEmpty.hidden = missingList.children.length > 0;
  }

  // A scan made in error, or a tube to set aside: its entry offers the correction form,
  // filled in with the tube, the focus on the reason.
  function correctionButton(barcode) {
    const barcodeField = document.querySelector("#correction-barcode");
    const reasonField = document.querySelector("#correction-reason");
    if (!barcodeField || !reasonField) {
      return null;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.dataset.keepsFocus = "";
    button.textContent = "Undo or set aside";
    const shown = scanner.displayBarcode(barcode);
    button.setAttribute("aria-label", `Undo the scan of ${shown} or set it aside`);
    button.addEventListener("click", function () {
      barcodeField.value = shown;
      reasonField.focus();
      reasonField.scrollIntoView({ block: "center" });
    });
    return button;
  }

  function remember(outcome, title, code, message, barcode) {
    const entry = document.createElement("li");
    entry.className = `scan-entry outcome-${outcome}`;
    const time = document.createElement("time");
    time.textContent = clock.format(new Date());
    const badge = document.createElement("span");
    badge.className = "scan-outcome";
    badge.textContent = title;
    const tube = document.createElement("code");
    tube.textContent = code;
    const sentence = document.createElement("span");
    sentence.className = "scan-message";
    sentence.textContent = message;
    entry.append(time, badge, tube, sentence);
    const correction = barcode && outcome !== "error" ? correctionButton(barcode) : null;
    if (correction) {
      entry.append(correction);
    }
    history.prepend(entry);
    while (history.children.length > HISTORY_LIMIT) {
      history.lastElementChild.remove();
    }
    historyEmpty.hidden = true;
  }

  // --- one scan ------------------------------------------------------------------------------

  async function send(text, isDamaged) {
    const answer = await scanner.callApi(station.dataset.scanUrl, {
      method: "POST",
      body: { barcode: text, damaged: isDamaged },
    });
    if (!answer.ok) {
      const title = ERROR_TITLES[answer.status] || "Not recorded";
      let message = answer.body.detail;
      // Nothing was recorded, so the damaged tube is still to be scanned: the mark waits for
      // it (unless a later scan is already on its way and took the mark's place).
      if (isDamaged && queue.pending() <= 1) {
        damaged.checked = true;
        message += " The damaged mark is kept for the next scan.";
      }
      scanner.showFeedback(panel, { outcome: "error", title, code: text, message });
      scanner.beep("error");
      remember("error", title, text, message);
      return;
    }
    const result = answer.body;
    const code = `${result.tube_type} ${scanner.displayBarcode(result.barcode)}`;
    const title = TITLES[result.outcome] || result.outcome;
    let message = result.message || title;
    if (isDamaged && result.outcome !== "duplicate") {
      message += " Marked damaged.";
    }
    showCounts(result.counts);
    arrived(result.barcode); // whatever the outcome, the tube is here now
    scanner.showFeedback(panel, { outcome: result.outcome, title, code, message });
    scanner.beep(result.outcome === "expected" ? "ok" : result.outcome);
    remember(result.outcome, title, code, message, result.barcode);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // never a page submit: this scan only, through the API
    const text = input.value.trim();
    input.value = "";
    refocus();
    if (text === "") {
      return;
    }
    // "Damaged" is for the next tube only.
    const isDamaged = damaged.checked;
    damaged.checked = false;
    queue.add(() => send(text, isDamaged));
  });

  // --- when scanning pauses: catch up with other benches -------------------------------------

  function afterQueueChange(waiting) {
    window.clearTimeout(recheckTimer);
    if (waiting === 0) {
      recheckTimer = window.setTimeout(recheck, RECHECK_AFTER_MS);
    }
  }

  async function recheck() {
    const answer = await scanner.callApi(station.dataset.receiptUrl);
    if (!answer.ok || queue.pending() > 0) {
      return; // a scan since: its own answer is newer than this one
    }
    showCounts(answer.body.counts);
    const stillMissing = new Set(answer.body.missing.map((sample) => sample.barcode));
    Array.from(missingList.children).forEach(function (row) {
      if (!stillMissing.has(row.dataset.barcode)) {
        arrived(row.dataset.barcode);
      }
    });
  }

  // Closing with scans still on their way would count those tubes missing: send them first.
  if (closeForm) {
    closeForm.addEventListener("submit", function (event) {
      if (queue.pending() === 0) {
        return;
      }
      event.preventDefault();
      queue.drained().then(() => closeForm.submit());
    });
  }
})();
