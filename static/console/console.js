// Agent console: keyboard shortcuts, the call timer, the hold countdown and messages.
// Vendored with the app (no CDN); htmx itself comes from django-htmx.
(function () {
  "use strict";

  // The agent's own shortcuts (on/off, key -> action), rendered by the page from their
  // profile; single keys can be turned off or remapped (WCAG 2.1.4).
  var shortcuts = { enabled: true, keys: {} };
  function loadShortcuts() {
    var el = document.getElementById("console-shortcuts");
    if (el) { try { shortcuts = JSON.parse(el.textContent); } catch (err) { /* defaults */ } }
  }
  loadShortcuts();

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function focus(selector) {
    var el = document.querySelector(selector);
    if (el) { el.focus(); if (el.select && el.tagName === "INPUT") el.select(); }
    return el;
  }

  // Only hold buttons: starts another agent holds render as ".slot-held" (no button),
  // so "n", "p" and "h" never land on a slot that would only be refused.
  function slotButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("#finder .slot-hold"));
  }

  function moveSlot(step) {
    var slots = slotButtons();
    if (!slots.length) return;
    var i = slots.indexOf(document.activeElement);
    var next = i < 0 ? (step > 0 ? 0 : slots.length - 1) : Math.min(Math.max(i + step, 0), slots.length - 1);
    slots[next].focus();
    slots[next].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var active = document.activeElement;
    if (e.key === "Escape") {
      if (typing(active)) { active.blur(); return; }
      var release = document.getElementById("release-button");
      if (release && shortcuts.enabled) { e.preventDefault(); release.click(); }
      return;
    }
    // Enter on a focused select submits its form (book, slot search, wrap-up), as it
    // does in a text field; Chrome would only open the list.
    if (e.key === "Enter" && active && active.tagName === "SELECT" && !active.multiple && active.form) {
      e.preventDefault();
      if (active.value || !active.required) active.form.requestSubmit();
      return;
    }
    if (typing(active) || !shortcuts.enabled) return;
    if (active && active.closest && active.closest("#shortcut-settings")) return;
    switch (shortcuts.keys[e.key]) {
      case "search": e.preventDefault(); focus("#id_query"); break;
      case "call": e.preventDefault(); if (!focus("#id_caller_phone")) focus("#id_outcome"); break;
      case "register": {
        e.preventDefault();
        var details = document.querySelector("#register details");
        if (details) { details.open = true; focus("#id_first_name"); }
        break;
      }
      case "slots": e.preventDefault(); focus("#id_appointment_type"); break;
      case "next": e.preventDefault(); moveSlot(1); break;
      case "previous": e.preventDefault(); moveSlot(-1); break;
      case "hold": {
        e.preventDefault();
        var slots = slotButtons();
        var target = slots.indexOf(active) >= 0 ? active : slots[0];
        if (target) target.click();
        break;
      }
      case "book": {
        // With every field filled (the reason, and the override reason for an
        // out-of-network slot) "b" books; otherwise it puts the agent on the first gap.
        e.preventDefault();
        var form = document.querySelector("#hold .bookform");
        if (!form) break;
        var missing = form.querySelector(":invalid:not(form)");
        if (missing) missing.focus();
        else form.requestSubmit();
        break;
      }
      case "wrapup": e.preventDefault(); focus("#id_outcome"); break;
    }
  });

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-since]").forEach(function (el) {
      var s = Math.max(0, Math.floor((now - Date.parse(el.dataset.since)) / 1000));
      el.textContent = Math.floor(s / 60) + ":" + pad(s % 60);
    });
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var s = Math.floor((Date.parse(el.dataset.expires) - now) / 1000);
      var panel = el.closest("#hold");
      if (s <= 0) {
        // Replace the whole line: "Hold expires in expired" read as a glitch.
        var line = el.closest(".hold-expiry") || el;
        line.textContent = "Hold expired: release it and hold the slot again.";
        line.classList.add("error");
        if (panel) {
          panel.classList.add("expired");
          var book = panel.querySelector("#book-button");
          if (book) book.disabled = true;
        }
      } else {
        el.textContent = Math.floor(s / 60) + ":" + pad(s % 60);
        if (panel) panel.classList.toggle("expiring", s <= 30);
      }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("DOMContentLoaded", tick);

  // After a search, the first result takes focus (Enter opens it, Tab walks the rest);
  // after a slot search the slot list does (so n/h work at once, Tab reaches the first
  // slot), not the drop-down Enter was pressed on; after a hold lands, the book form's
  // first empty field does (pick a reason, Enter books).
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "search") {
      var first = document.querySelector("#search .open-patient");
      if (first) first.focus();
    }
    if (e.target && e.target.id === "finder" && requestPath(e) === "/console/slots/") {
      var list = document.getElementById("slot-list");
      if (list) list.focus();
    }
    if (e.target && e.target.id === "hold") {
      var gap = document.querySelector("#hold .bookform :invalid:not(form)") ||
        document.querySelector("#hold .bookform select");
      if (gap) gap.focus();
    }
  });

  function requestPath(e) {
    var d = e.detail || {};
    return (d.pathInfo && d.pathInfo.requestPath) || (d.requestConfig && d.requestConfig.path) || "";
  }

  // The skip link to the slots lands on the list when there is one, else on the finder.
  document.addEventListener("click", function (e) {
    var link = e.target && e.target.closest && e.target.closest("#skip-to-slots");
    if (!link) return;
    e.preventDefault();
    var target = document.getElementById("slot-list") || document.getElementById("id_appointment_type");
    if (target) target.focus();
  });

  // Messages dismiss themselves (errors stay longer) and can be closed at once; they sit
  // clear of the call bar and the slot list.
  var TOAST_MS = { info: 6000, error: 12000 };
  function armToasts() {
    document.querySelectorAll("#flash .msg:not([data-armed])").forEach(function (msg) {
      msg.dataset.armed = "1";
      var close = document.createElement("button");
      close.type = "button";
      close.className = "dismiss";
      close.setAttribute("aria-label", "Dismiss message");
      close.textContent = "\u00d7";
      close.addEventListener("click", function () { msg.remove(); });
      msg.appendChild(close);
      var ms = msg.classList.contains("error") ? TOAST_MS.error : TOAST_MS.info;
      setTimeout(function () { msg.remove(); }, ms);
    });
  }
  document.addEventListener("htmx:afterSettle", armToasts);
  document.addEventListener("DOMContentLoaded", armToasts);
})();
