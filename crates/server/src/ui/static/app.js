// Keygate Developer app: small enhancements over plain forms. Every flow works
// without this file; it adds the copy buttons, the password dialog, and keeps
// the permission checkboxes consistent (Write includes Read).
"use strict";

(function () {
  document.documentElement.classList.add("js");

  // A form that came back with errors: its summary first, so a screen reader
  // and the eye both start there; a link in it moves focus to its field.
  var errorSummary = document.getElementById("error-summary");
  if (errorSummary) {
    errorSummary.focus();
    errorSummary.addEventListener("click", function (e) {
      var a = e.target.closest("a[href^='#']");
      var field = a && document.getElementById(a.getAttribute("href").slice(1));
      if (!field) return;
      e.preventDefault();
      field.scrollIntoView({ block: "center" });
      field.focus({ preventScroll: true });
    });
  }

  // Copy buttons on the one-time reveal page.
  document.querySelectorAll("button.copy[data-copy]").forEach(function (btn) {
    var input = document.getElementById(btn.getAttribute("data-copy"));
    if (!input) return;
    btn.hidden = false;
    var label = btn.textContent;
    btn.addEventListener("click", function () {
      var done = function () {
        btn.textContent = "Copied";
        btn.classList.add("copied");
        setTimeout(function () { btn.textContent = label; btn.classList.remove("copied"); }, 2500);
      };
      var fallback = function () {
        input.focus();
        input.select();
        try { document.execCommand("copy"); } catch (e) { /* selection stays for manual copy */ }
        done();
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // Times marked data-local in the reader's time zone ("Today, 15:53"),
  // the UTC time kept as the title.
  var sameDay = function (a, b) { return a.toDateString() === b.toDateString(); };
  document.querySelectorAll("time[data-local]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) return;
    var now = new Date();
    var yesterday = new Date(now.getTime() - 86400000);
    var clock = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    var day = sameDay(d, now) ? "Today" : sameDay(d, yesterday) ? "Yesterday"
      : d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: d.getFullYear() === now.getFullYear() ? undefined : "numeric" });
    t.title = t.textContent.replace(/\s+/g, " ").trim();
    t.textContent = "";
    t.appendChild(document.createTextNode(day));
    var sub = document.createElement("span");
    sub.className = "cell-sub";
    sub.textContent = clock;
    t.appendChild(sub);
  });

  // Phones: the top bar and the sidebar fold into one menu behind a button.
  var toggle = document.getElementById("nav-toggle");
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = document.body.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // Tables read as one block per row on a phone: each cell says its column.
  document.querySelectorAll("table:not(.perms)").forEach(function (table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i]);
      });
    });
  });

  // The … menus, as WAI-ARIA's menu button: the list floats above the page
  // (fixed to the window, so a scrolling table never clips it), opening moves
  // focus to its first item, arrows move between items, Escape closes it and
  // gives focus back to its button, Tab closes it. One open at a time; a click
  // elsewhere closes it.
  var menus = Array.prototype.slice.call(document.querySelectorAll("details.menu, details.switcher"));
  var closeMenus = function (except) {
    menus.forEach(function (d) { if (d !== except) d.open = false; });
  };
  var items = function (d) {
    return Array.prototype.slice.call(d.querySelectorAll(".menu-list a, .switcher-menu a"));
  };
  var place = function (d) {
    var list = d.querySelector(".menu-list");
    if (!list || !d.open) return;
    var r = d.querySelector("summary").getBoundingClientRect();
    list.setAttribute("data-floating", "");
    var w = list.offsetWidth, h = list.offsetHeight;
    var left = Math.max(8, Math.min(r.right - w, window.innerWidth - w - 8));
    var top = r.bottom + 4;
    if (top + h > window.innerHeight - 8 && r.top - h - 4 >= 8) top = r.top - h - 4;
    list.style.left = left + "px";
    list.style.top = top + "px";
  };
  var focusItem = function (d, i) {
    var all = items(d);
    if (!all.length) return;
    all[(i + all.length) % all.length].focus({ preventScroll: true });
  };
  menus.forEach(function (d) {
    var summary = d.querySelector("summary");
    var list = d.querySelector(".menu-list, .switcher-menu ul");
    summary.setAttribute("aria-haspopup", "menu");
    summary.setAttribute("aria-expanded", "false");
    if (list) {
      if (!list.id) list.id = "menu-" + Math.random().toString(36).slice(2);
      summary.setAttribute("aria-controls", list.id);
      list.setAttribute("role", "menu");
      Array.prototype.forEach.call(list.children, function (li) { li.setAttribute("role", "none"); });
    }
    items(d).forEach(function (a) {
      a.setAttribute("role", "menuitem");
      a.tabIndex = -1;
    });
    // Opened from here with focus on its first (or last) item at once; a
    // click opens it through the browser's own toggle.
    var open = function (last) {
      d.open = true;
      summary.setAttribute("aria-expanded", "true");
      closeMenus(d);
      place(d);
      focusItem(d, last ? -1 : 0);
    };
    d.addEventListener("toggle", function () {
      summary.setAttribute("aria-expanded", d.open ? "true" : "false");
      if (!d.open) return;
      closeMenus(d);
      place(d);
      if (!d.contains(document.activeElement) || document.activeElement === summary) focusItem(d, 0);
    });
    summary.addEventListener("keydown", function (e) {
      var opens = { ArrowDown: false, ArrowUp: true, Enter: false, " ": false };
      if (!(e.key in opens)) return;
      e.preventDefault();
      if (d.open && (e.key === "Enter" || e.key === " ")) { d.open = false; return; }
      open(opens[e.key]);
    });
    d.addEventListener("keydown", function (e) {
      if (e.target === summary) return;
      var all = items(d);
      var i = all.indexOf(document.activeElement);
      if (i < 0) return;
      if (e.key === "ArrowDown") { e.preventDefault(); focusItem(d, i + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); focusItem(d, i - 1); }
      else if (e.key === "Home") { e.preventDefault(); focusItem(d, 0); }
      else if (e.key === "End") { e.preventDefault(); focusItem(d, -1); }
      else if (e.key === "Tab") { d.open = false; }
    });
  });
  var placeOpen = function () {
    menus.forEach(function (d) { if (d.open) place(d); });
  };
  window.addEventListener("scroll", placeOpen, true);
  window.addEventListener("resize", placeOpen);
  document.addEventListener("click", function (e) {
    if (!e.target.closest("details.menu, details.switcher")) closeMenus(null);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var open = document.querySelector("details.menu[open], details.switcher[open], details.multiselect[open]");
    if (open) {
      open.open = false;
      var s = open.querySelector("summary");
      if (s) s.focus();
    } else if (document.body.classList.contains("nav-open") && toggle) {
      toggle.click();
      toggle.focus();
    }
  });

  // The password prompt as a dialog instead of a separate page: opened by a
  // link (key actions) or by submitting a form (member changes) marked
  // data-dialog; a form's other fields travel along as hidden inputs.
  var dialog = document.getElementById("confirm-dialog");
  if (dialog && typeof dialog.showModal === "function") {
    var form = document.getElementById("confirm-form");
    var owner = document.getElementById("confirm-owner");
    var fields = document.getElementById("confirm-fields");
    var password = document.getElementById("confirm-password");
    var grace = document.getElementById("confirm-grace");
    var graceSelect = grace && grace.querySelector("select");
    var submit = document.getElementById("confirm-submit");
    // An admin key's expiry, allowlist and rate limit (Generate, Regenerate):
    // kept on the page outside any form, moved into the dialog.
    var terms = document.getElementById("key-terms");
    if (terms) form.insertBefore(terms, password.closest(".field"));
    var termInputs = terms ? Array.prototype.slice.call(terms.querySelectorAll("input, textarea")) : [];
    var termValue = {
      expires_at: "data-expires",
      allowed_networks: "data-networks",
      rate_limit_requests: "data-rate-requests",
      rate_limit_per_seconds: "data-rate-per-seconds"
    };
    var openDialog = function (el, action, extra) {
      closeMenus(null);
      form.action = action;
      document.getElementById("confirm-title").textContent = el.getAttribute("data-title");
      document.getElementById("confirm-body").textContent = el.getAttribute("data-body");
      submit.textContent = el.getAttribute("data-button");
      submit.className = "btn " + (el.hasAttribute("data-danger") ? "btn-danger" : "btn-primary");
      var ownerId = el.getAttribute("data-owner");
      owner.disabled = !ownerId;
      owner.value = ownerId || "";
      fields.textContent = "";
      extra.forEach(function (pair) {
        var h = document.createElement("input");
        h.type = "hidden";
        h.name = pair[0];
        h.value = pair[1];
        fields.appendChild(h);
      });
      // Regenerate offers a grace period for the old secret.
      if (grace) {
        var offersGrace = el.hasAttribute("data-grace");
        grace.hidden = !offersGrace;
        graceSelect.disabled = !offersGrace;
        graceSelect.value = "0";
      }
      // Generate starts empty, Regenerate from the key's values.
      if (terms) {
        var offersTerms = el.hasAttribute("data-terms");
        terms.hidden = !offersTerms;
        termInputs.forEach(function (input) {
          input.disabled = !offersTerms;
          input.value = el.getAttribute(termValue[input.name]) || "";
        });
      }
      password.value = "";
      var details = el.closest("details");
      dialog.returnFocusTo = details ? details.querySelector("summary") : (el.querySelector("button") || el);
      dialog.showModal();
      password.focus();
    };
    document.addEventListener("click", function (e) {
      var link = e.target.closest("a[data-dialog]");
      if (!link) return;
      e.preventDefault();
      openDialog(link, link.pathname, []);
    });
    document.addEventListener("submit", function (e) {
      var f = e.target;
      if (f === form || !f.hasAttribute("data-dialog")) return;
      e.preventDefault();
      var extra = [];
      Array.prototype.forEach.call(f.elements, function (el) {
        if (el.name && el.name !== "csrf" && el.name !== "password" && !el.disabled) {
          extra.push([el.name, el.value]);
        }
      });
      openDialog(f, f.getAttribute("action"), extra);
    });
    dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      if (dialog.returnFocusTo) dialog.returnFocusTo.focus();
    });
  }

  // Write includes Read.
  document.addEventListener("change", function (e) {
    var box = e.target;
    var row = box.closest && box.closest("tr");
    if (!row) return;
    if (box.hasAttribute("data-write") && box.checked) {
      var read = row.querySelector("[data-read]");
      if (read) read.checked = true;
    }
    if (box.hasAttribute("data-read") && !box.checked) {
      var write = row.querySelector("[data-write]");
      if (write) write.checked = false;
    }
  });

  // Account(s): Select all, and a summary of the choice.
  var all = document.getElementById("accounts-all");
  if (all) {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=account]"));
    var summary = document.getElementById("accounts-summary");
    var update = function () {
      if (all.checked) { summary.textContent = "All accounts"; return; }
      var names = boxes.filter(function (b) { return b.checked; })
        .map(function (b) { return b.getAttribute("data-account-name"); });
      summary.textContent = names.length ? names.join(", ") : "Select accounts";
    };
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      update();
    });
    boxes.forEach(function (b) {
      b.addEventListener("change", function () {
        if (!b.checked) all.checked = false;
        update();
      });
    });
  }
})();
