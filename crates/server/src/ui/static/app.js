// Keygate Developer app: small enhancements over plain forms. Every flow works
// without this file; it adds the copy buttons, the password dialog, and keeps
// the permission checkboxes consistent (Write includes Read).
"use strict";

(function () {
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

  // The … menus: one open at a time; Escape or a click elsewhere closes them.
  var menus = Array.prototype.slice.call(document.querySelectorAll("details.menu, details.switcher"));
  var closeMenus = function (except) {
    menus.forEach(function (d) { if (d !== except) d.open = false; });
  };
  menus.forEach(function (d) {
    d.addEventListener("toggle", function () { if (d.open) closeMenus(d); });
  });
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
