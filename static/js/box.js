// The box page: store tubes by scanning, without reloading the page.
//
// The highlighted cell is where the next scan goes: the first free position at first, the one
// the technician chose by clicking an empty cell, then the next free one after the last tube
// stored (a run started at C5 carries on at C6). Each scan is posted to the JSON API
// (POST /api/v1/storage/boxes/<id>/positions), which holds every rule and answers with the
// position or a sentence saying why not; the grid is then redrawn by the server from the same
// template the page was drawn with. Scans made while one is on its way wait their turn, so two
// quick scans never aim at the same cell. Arrow keys move between cells.
(function () {
  "use strict";

  const contents = document.querySelector("[data-box-contents]");
  if (!contents) {
    return;
  }

  // --- the grid and the keyboard ----------------------------------------------------------------
  const ARROWS = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  contents.addEventListener("keydown", function (event) {
    const cell = event.target.closest(".cell");
    const move = ARROWS[event.key];
    if (!cell || !move) {
      return;
    }
    const row = Number(cell.dataset.row) + move[0];
    const col = Number(cell.dataset.col) + move[1];
    const next = contents.querySelector(`.cell[data-row="${row}"][data-col="${col}"]`);
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  const form = document.getElementById("store-form");
  if (!form) {
    return; // this person reads the box but does not store into it
  }
  const scanInput = form.elements.barcode;
  const positionInput = form.elements.position;
  const feedback = document.getElementById("store-feedback");
  let queue = Promise.resolve();

  function cells() {
    return Array.from(contents.querySelectorAll(".cell"));
  }

  function cellAt(position) {
    return position ? contents.querySelector(`.cell[data-position="${position}"]`) : null;
  }

  function isEmpty(cell) {
    return Boolean(cell) && cell.dataset.state === "empty";
  }

  function highlight(position) {
    contents.querySelectorAll(".cell.target").forEach(function (cell) {
      cell.classList.remove("target");
      cell.setAttribute("aria-pressed", "false");
    });
    const cell = cellAt(position);
    if (isEmpty(cell)) {
      cell.classList.add("target");
      cell.setAttribute("aria-pressed", "true");
    }
  }

  // Where the next scan goes, in the grid and in the position field.
  function aimAt(position) {
    highlight(position);
    positionInput.value = position || "";
    positionInput.removeAttribute("aria-invalid");
  }

  // The first free position as the server drew it (row by row, as it allocates).
  function firstFree() {
    const marker = contents.querySelector("[data-target]");
    return marker ? marker.dataset.target : "";
  }

  // The next free position after ``position``, row by row, from the top again after the end.
  function nextFreeAfter(position) {
    const all = cells();
    const start = all.findIndex((cell) => cell.dataset.position === position);
    for (let step = 1; step <= all.length; step += 1) {
      const cell = all[(start + step) % all.length];
      if (isEmpty(cell)) {
        return cell.dataset.position;
      }
    }
    return "";
  }

  function say(message, tone) {
    feedback.textContent = message;
    feedback.className = "store-feedback" + (tone ? " " + tone : "");
  }

  function shown(barcode) {
    return barcode.length === 10 ? barcode.slice(0, 5) + "-" + barcode.slice(5) : barcode;
  }

  // A refused scan comes back into the field, selected: fix it, press Enter again, or scan
  // the next tube over it. Unless another scan is already there.
  function giveBack(barcode) {
    if (scanInput.value === "") {
      scanInput.value = barcode;
      scanInput.select();
    }
  }

  async function redraw() {
    const response = await fetch(form.dataset.contentsUrl, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (!response.ok) {
      throw new Error(`the grid could not be read (${response.status})`);
    }
    contents.innerHTML = await response.text();
  }

  async function post(barcode, position) {
    const body = { barcode: barcode };
    if (position) {
      body.position = position;
    }
    return fetch(form.dataset.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": window.biobank.csrfToken,
      },
      body: JSON.stringify(body),
    });
  }

  function refusal(response, answer) {
    if (response.status === 401) {
      return "You are no longer logged in: log in again in another tab, then scan again. Nothing was stored.";
    }
    if (answer && answer.detail) {
      return answer.detail;
    }
    return `The server could not store the tube (error ${response.status}). Nothing was stored.`;
  }

  async function store(barcode) {
    const position = positionInput.value.trim().toUpperCase();
    say(`Storing ${barcode}…`, "busy");
    let response;
    try {
      response = await post(barcode, position);
    } catch (unreachable) {
      say(`No answer from the server for ${barcode}: check the grid before scanning it again.`, "bad");
      giveBack(barcode);
      await redraw().catch(() => {});
      aimAt(isEmpty(cellAt(position)) ? position : firstFree());
      return;
    }
    const answer = await response.json().catch(() => null);
    await redraw();
    if (response.ok) {
      const cell = cellAt(answer.position);
      const code = cell ? cell.querySelector(".cell-code") : null;
      if (cell) {
        cell.classList.add("just-stored");
      }
      const next = nextFreeAfter(answer.position);
      aimAt(next);
      say(
        `Stored ${code ? code.textContent + " " : ""}${shown(answer.barcode)} in ${answer.position}. ` +
          (next ? `Next: ${next}.` : "The box is full."),
        "ok"
      );
      return;
    }
    say(refusal(response, answer), "bad");
    giveBack(barcode);
    if (answer && answer.next_free) {
      aimAt(answer.next_free); // taken: the service named the next free position
    } else if (answer && answer.errors && answer.errors.position) {
      positionInput.setAttribute("aria-invalid", "true");
      highlight("");
    } else {
      aimAt(isEmpty(cellAt(position)) ? position : firstFree());
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const barcode = scanInput.value.trim();
    scanInput.focus();
    if (barcode === "") {
      return;
    }
    scanInput.value = "";
    queue = queue
      .then(() => store(barcode))
      .catch(function () {
        say("This page lost track of the box: reload it before scanning on.", "bad");
      });
  });

  // --- choosing a position: click (or Enter on) an empty cell, or type it -------------------------
  contents.addEventListener("click", function (event) {
    const cell = event.target.closest("button.cell");
    if (!cell) {
      return;
    }
    if (isEmpty(cell)) {
      aimAt(cell.dataset.position);
      say(`The next scan goes into ${cell.dataset.position}.`, "");
    }
    scanInput.focus(); // the scanner types into the scan field, whatever was clicked
  });

  positionInput.addEventListener("input", function () {
    positionInput.removeAttribute("aria-invalid");
    highlight(positionInput.value.trim().toUpperCase());
  });
})();
