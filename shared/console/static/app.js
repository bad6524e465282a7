// The console works without this script; it only asks before a
// destructive form is sent and keeps "Compare selected" honest.
document.addEventListener("submit", function (e) {
  var b = e.submitter;
  if (b && b.classList.contains("danger") && !window.confirm(b.textContent.trim() + "?")) {
    e.preventDefault();
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var btn = document.getElementById("compare");
  if (!btn) return;
  var boxes = document.querySelectorAll('input[type=checkbox][name=v]');
  var sync = function () {
    var n = 0;
    boxes.forEach(function (b) { if (b.checked) n++; });
    btn.disabled = n < 2;
  };
  boxes.forEach(function (b) { b.addEventListener("change", sync); });
  sync();
});
