// The packing bench: each scan (code + Enter, see scan.js) goes to the JSON API and the tube
// list grows in place; the page never reloads while packing. Without scripts the same form
// posts to the page and comes back, so nothing here is the only way to pack.
(function () {
  "use strict";
  const station = document.querySelector("[data-packing]");
  const scanner = window.biobank && window.biobank.scanStation;
  if (!station || !scanner) {
    return;
  }
  const form = station.querySelector("[data-scan-form]");
  const input = form.querySelector("input[name=barcode]");
  const panel = station.querySelector("[data-scan-feedback]");
  const list = station.querySelector("[data-packed-list]");
  const rowTemplate = station.querySelector("template[data-packed-row]");
  const emptyNote = station.querySelector("[data-empty-note]");
  const queueNote = station.querySelector("[data-queue-note]");
  const packUrl = station.dataset.packUrl;
  const refocus = scanner.keepFocus(input);
  const queue = scanner.createQueue({ note: queueNote });
  scanner.bindSoundToggle(station.querySelector("[data-sound-toggle]"));

  function tubeCount(count) {
    return `${count} tube${count === 1 ? "" : "s"}`;
  }

  function unpackUrl(barcode) {
    return station.dataset.unpackUrl.replace("BARCODE", encodeURIComponent(barcode));
  }

  function rowFor(barcode) {
    return list.querySelector(`li[data-barcode="${CSS.escape(barcode)}"]`);
  }

  function showCount(count) {
    document.querySelectorAll("[data-packed-count]").forEach((element) => {
      element.textContent = String(count);
    });
    document.querySelectorAll("[data-packed-noun]").forEach((element) => {
      element.textContent = count === 1 ? "tube" : "tubes";
    });
    emptyNote.hidden = count > 0;
  }

  function markScanned(row) {
    list.querySelectorAll(".just-scanned").forEach((other) => {
      other.classList.remove("just-scanned");
    });
    row.classList.add("just-scanned");
  }

  // A copy of the server's own row markup (remove form and CSRF token included).
  function addRow(barcode, tubeCode) {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    const display = scanner.displayBarcode(barcode);
    const removeForm = row.querySelector("form");
    row.dataset.barcode = barcode;
    row.querySelector(".tube-code").textContent = tubeCode;
    row.querySelector(".barcode").textContent = display;
    const action = removeForm.getAttribute("action").replace("BARCODE", barcode);
    removeForm.setAttribute("action", action);
    removeForm.querySelector("button").setAttribute("aria-label", `Remove ${display}`);
    list.prepend(row);
    return row;
  }

  async function pack(text) {
    const answer = await scanner.callApi(packUrl, { method: "POST", body: { barcode: text } });
    if (!answer.ok) {
      scanner.showFeedback(panel, {
        outcome: "error",
        title: "Not packed",
        code: text,
        message: answer.body.detail,
      });
      scanner.beep("error");
      return;
    }
    const tube = answer.body;
    const display = scanner.displayBarcode(tube.barcode);
    const existing = rowFor(tube.barcode);
    if (tube.added || !existing) {
      markScanned(existing || addRow(tube.barcode, tube.tube_type));
      showCount(tube.items);
      scanner.showFeedback(panel, {
        outcome: "added",
        title: "Added",
        code: `${tube.tube_type} ${display}`,
        message: `Added ${tube.tube_type} ${display}: ${tubeCount(tube.items)} packed.`,
      });
      scanner.beep("ok");
    } else {
      markScanned(existing);
      scanner.showFeedback(panel, {
        outcome: "duplicate",
        title: "In already",
        code: `${tube.tube_type} ${display}`,
        message: `${display} is in this shipment already.`,
      });
      scanner.beep("duplicate");
    }
  }

  async function unpack(barcode, row) {
    const display = scanner.displayBarcode(barcode);
    const answer = await scanner.callApi(unpackUrl(barcode), { method: "DELETE" });
    if (!answer.ok) {
      row.querySelector("button").disabled = false;
      scanner.showFeedback(panel, {
        outcome: "error",
        title: "Not removed",
        code: display,
        message: answer.body.detail,
      });
      scanner.beep("error");
      return;
    }
    row.remove();
    showCount(list.children.length);
    scanner.showFeedback(panel, {
      outcome: "removed",
      title: "Removed",
      code: display,
      message: `Removed ${display} from the shipment.`,
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    input.value = ""; // ready for the next scan before this one is answered
    refocus();
    if (text !== "") {
      queue.add(() => pack(text));
    }
  });

  // Remove buttons, the server's and the ones added above: queued too, so a remove and a
  // scan of the same tube are applied in the order they were made.
  list.addEventListener("submit", function (event) {
    const removeForm = event.target.closest("form[data-unpack]");
    if (!removeForm) {
      return;
    }
    event.preventDefault();
    const row = removeForm.closest("li");
    removeForm.querySelector("button").disabled = true;
    queue.add(() => unpack(row.dataset.barcode, row));
  });

  // Dispatching with scans still on their way would leave them out: send those first.
  const pageForms = station.querySelectorAll("form:not([data-scan-form]):not([data-unpack])");
  pageForms.forEach(function (other) {
    other.addEventListener("submit", function (event) {
      if (queue.pending() === 0) {
        return;
      }
      event.preventDefault();
      queue.drained().then(() => other.submit());
    });
  });
})();
