// Agent console: keyboard shortcuts, the call timer and the hold countdown.
// Vendored with the app (no CDN); htmx itself comes from django-htmx.
(function () {
  "use strict";

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
      if (release) { e.preventDefault(); release.click(); }
      return;
    }
    // Enter on a focused select submits its form (book, slot search, wrap-up), as it
    // does in a text field; Chrome would only open the list.
    if (e.key === "Enter" && active && active.tagName === "SELECT" && !active.multiple && active.form) {
      e.preventDefault();
      if (active.value || !active.required) active.form.requestSubmit();
      return;
    }
    if (typing(active)) return;
    switch (e.key) {
      case "/": e.preventDefault(); focus("#id_query"); break;
      case "c": e.preventDefault(); if (!focus("#id_caller_phone")) focus("#id_outcome"); break;
      case "r": {
        e.preventDefault();
        var details = document.querySelector("#register details");
        if (details) { details.open = true; focus("#id_first_name"); }
        break;
      }
      case "s": e.preventDefault(); focus("#id_appointment_type"); break;
      case "n": e.preventDefault(); moveSlot(1); break;
      case "p": e.preventDefault(); moveSlot(-1); break;
      case "h": {
        e.preventDefault();
        var slots = slotButtons();
        var target = slots.indexOf(active) >= 0 ? active : slots[0];
        if (target) target.click();
        break;
      }
      case "b": {
        // With a reason already chosen "b" books; otherwise it puts the agent on the reason.
        e.preventDefault();
        var reason = document.querySelector("#hold .bookform select");
        if (reason && reason.value) reason.form.requestSubmit();
        else if (reason) reason.focus();
        break;
      }
      case "w": e.preventDefault(); focus("#id_outcome"); break;
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
  // after a hold lands, the book form does (pick a reason, Enter books).
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "search") {
      var first = document.querySelector("#search .open-patient");
      if (first) first.focus();
    }
    if (e.target && e.target.id === "hold") {
      var reason = document.querySelector("#hold .bookform select");
      if (reason) reason.focus();
    }
  });
})();
