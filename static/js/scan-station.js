// What the packing and receiving benches share: a USB barcode scanner types a code and presses
// Enter, often faster than the network answers, and the person is looking at the tubes, not the
// screen. So: scans go to the JSON API one at a time in the order they were made; each answer
// is shown big and in colour AND heard (a tone pattern per outcome); the scan field keeps the
// focus. No audio files: tones come from the Web Audio API, so nothing loads from elsewhere.
(function () {
  "use strict";
  const biobank = (window.biobank = window.biobank || {});

  // --- the JSON API, with the session cookie and the page's CSRF token -----------------------

  // Resolves to {ok, status, body}; never rejects, so one failed scan cannot stop the queue.
  async function callApi(url, { method = "GET", body } = {}) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      init.headers["X-CSRFToken"] = biobank.csrfToken;
    }
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (networkError) {
      return {
        ok: false,
        status: 0,
        body: {
          detail:
            "The server could not be reached, so nothing was recorded. " +
            "Check the network, then scan again.",
        },
      };
    }
    let answer = null;
    if (response.status !== 204) {
      try {
        answer = await response.json();
      } catch (notJson) {
        answer = null;
      }
    }
    if (!response.ok && !(answer && answer.detail)) {
      answer = {
        detail: `The server answered ${response.status} and nothing was recorded. Scan again.`,
      };
    }
    return { ok: response.ok, status: response.status, body: answer };
  }

  // --- a queue: one request at a time, in scan order --------------------------------------

  // ``note`` (optional) tells the person how many scans are still waiting behind the one
  // being sent; ``onChange`` hears every change of that number.
  function createQueue({ note = null, onChange = function () {} } = {}) {
    let tail = Promise.resolve();
    let waiting = 0;
    function changed() {
      if (note) {
        const behind = waiting - 1;
        note.hidden = behind < 1;
        note.textContent = `${behind} more scan${behind === 1 ? "" : "s"} waiting to be sent…`;
      }
      onChange(waiting);
    }
    return {
      add(task) {
        waiting += 1;
        changed();
        tail = tail
          .then(task)
          .catch((error) => console.error("scan task failed", error))
          .finally(() => {
            waiting -= 1;
            changed();
          });
        return tail;
      },
      pending: () => waiting,
      // Resolves once everything queued so far has been answered.
      drained: () => tail,
    };
  }

  // --- tones -------------------------------------------------------------------------------

  // [frequency Hz, seconds, waveform]: told apart without looking at the screen.
  const TONES = {
    ok: [[1046, 0.1, "sine"]], // one short high beep: all good
    duplicate: [
      [659, 0.08, "sine"],
      [659, 0.08, "sine"],
    ], // two mid beeps: nothing new
    unexpected: [
      [523, 0.11, "triangle"],
      [784, 0.11, "triangle"],
      [523, 0.11, "triangle"],
    ], // up and down: look at this tube
    error: [
      [196, 0.3, "square"],
      [147, 0.35, "square"],
    ], // low buzz: stop, set the tube aside
  };
  const SOUND_KEY = "biobank.scanSounds";
  let audio = null;

  function soundWanted() {
    try {
      return window.localStorage.getItem(SOUND_KEY) !== "off";
    } catch (storageBlocked) {
      return true;
    }
  }

  function audioContext() {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextClass) {
      return null;
    }
    audio = audio || new AudioContextClass();
    if (audio.state === "suspended") {
      audio.resume();
    }
    return audio;
  }

  function beep(kind) {
    if (!soundWanted()) {
      return;
    }
    try {
      const context = audioContext();
      if (!context) {
        return;
      }
      let at = context.currentTime + 0.01;
      (TONES[kind] || TONES.error).forEach(function ([frequency, seconds, wave]) {
        const oscillator = context.createOscillator();
        const volume = context.createGain();
        oscillator.type = wave;
        oscillator.frequency.value = frequency;
        // Short ramps in and out: a hard edge clicks.
        volume.gain.setValueAtTime(0.0001, at);
        volume.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
        volume.gain.exponentialRampToValueAtTime(0.0001, at + seconds);
        oscillator.connect(volume).connect(context.destination);
        oscillator.start(at);
        oscillator.stop(at + seconds + 0.02);
        at += seconds + 0.05;
      });
    } catch (noSound) {
      // Sound helps; it is never a reason to lose a scan.
    }
  }

  // Browsers only start audio after a gesture: the first key or tap on the page unlocks it.
  function unlockAudio() {
    if (soundWanted()) {
      try {
        audioContext();
      } catch (noSound) {
        // as above
      }
    }
  }
  document.addEventListener("keydown", unlockAudio, { once: true });
  document.addEventListener("pointerdown", unlockAudio, { once: true });

  function bindSoundToggle(checkbox) {
    if (!checkbox) {
      return;
    }
    checkbox.checked = soundWanted();
    checkbox.addEventListener("change", function () {
      try {
        window.localStorage.setItem(SOUND_KEY, checkbox.checked ? "on" : "off");
      } catch (storageBlocked) {
        // the choice lasts for this page only
      }
    });
  }

  // --- what the person sees ------------------------------------------------------------------

  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // Polite for outcomes that need no action; an alert for refusals, which do.
  // The station counts its answers in data-answered: a way to tell, from outside, that the
  // answer on screen belongs to the latest scan.
  function showFeedback(panel, { outcome, title, code, message }) {
    const station = panel.closest("[data-answered]");
    const status = panel.querySelector("[data-feedback-status]");
    const alert = panel.querySelector("[data-feedback-alert]");
    panel.dataset.outcome = outcome;
    panel.querySelector("[data-feedback-title]").textContent = title;
    panel.querySelector("[data-feedback-code]").textContent = code || "";
    if (outcome === "error") {
      status.textContent = "";
      alert.textContent = message;
    } else {
      alert.textContent = "";
      status.textContent = message;
    }
    if (station) {
      station.dataset.answered = String(Number(station.dataset.answered || 0) + 1);
    }
    // A short flash, so two answers alike in a row still read as two. Web Animations rather
    // than re-adding a CSS class: that would force a layout of the whole page on every scan.
    if (panel.animate && !reducedMotion.matches) {
      panel.animate(
        [
          { transform: "scale(1.02)", boxShadow: "0 0 0 6px currentColor" },
          { transform: "none", boxShadow: "none" },
        ],
        { duration: 350, easing: "ease-out" }
      );
    }
  }

  // ``7KQ2M9XD3E`` → ``7KQ2M-9XD3E``, as the pages print tube IDs.
  function displayBarcode(barcode) {
    if (!barcode || barcode.length !== 10) {
      return barcode;
    }
    return `${barcode.slice(0, 5)}-${barcode.slice(5)}`;
  }

  // --- the scan field keeps the focus ---------------------------------------------------------

  // Inputs where a click means "I am going to type here": left alone. Checkboxes, radios
  // and buttons are clicked, not typed in, so the scan field takes the focus back after them.
  // The characters of anything scanned here: tube, box and manifest IDs.
  const SCANNED_KEY = /^[0-9A-Za-z-]$/;
  const CLICKED_NOT_TYPED = ["checkbox", "radio", "button", "submit", "reset", "image", "range"];

  function typingElsewhere(element, scanField) {
    if (!element || element === scanField || element === document.body) {
      return false;
    }
    if (element.closest("[data-keeps-focus]") || element.isContentEditable) {
      return true;
    }
    if (element.tagName === "TEXTAREA" || element.tagName === "SELECT") {
      return true;
    }
    return element.tagName === "INPUT" && !CLICKED_NOT_TYPED.includes(element.type);
  }

  // After every scan, after a click anywhere else (a checkbox, the list, blank space), and
  // when the window comes back: unless the person is typing elsewhere (a form being filled
  // in, the header's search box), clicked a link, or is selecting text. Keyboard users may
  // still Tab away: only clicks bring the focus back.
  function keepFocus(input) {
    function refocus() {
      if (document.activeElement !== input && !typingElsewhere(document.activeElement, input)) {
        input.focus({ preventScroll: true });
      }
    }
    document.addEventListener("click", function (event) {
      const target = event.target instanceof Element ? event.target : null;
      if (target && target.closest("a[href], [data-keeps-focus]")) {
        return;
      }
      if (String(window.getSelection ? window.getSelection() : "") !== "") {
        return;
      }
      // After the click's own default action (a checkbox ticks, a field takes the focus).
      window.setTimeout(refocus, 0);
    });
    window.addEventListener("focus", refocus);
    // A scanner types its first characters within milliseconds of a click on a checkbox or a
    // button, before the focus has come back: a key of a tube ID pressed anywhere but a field
    // being typed in goes to the scan field, so no character of a scan is lost.
    document.addEventListener(
      "keydown",
      function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey || !SCANNED_KEY.test(event.key)) {
          return;
        }
        if (document.activeElement !== input && !typingElsewhere(document.activeElement, input)) {
          input.focus({ preventScroll: true });
        }
      },
      true
    );
    return function refocusNow() {
      input.focus({ preventScroll: true });
    };
  }

  biobank.scanStation = {
    callApi,
    createQueue,
    beep,
    bindSoundToggle,
    showFeedback,
    displayBarcode,
    keepFocus,
  };
})();
