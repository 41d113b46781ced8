// smsflow extranet: the few behaviours HTML has no attribute for. No inline script anywhere (the CSP forbids it).
document.addEventListener("click", function (event) {
  // <button data-confirm="…">: ask before a destructive action.
  var button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
