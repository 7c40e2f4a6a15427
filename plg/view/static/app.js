// plg view: progressive enhancement only; every page works without scripts.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("pick-page");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
    });
  }
});
