/* The page behaviour that used to live in inline handlers, for the Content-Security-Policy
 * (script-src 'self': no inline script, no on… attribute; docs/security.md). Each behaviour
 * is declared in the templates by a data attribute and handled here by delegation on the
 * document, so content htmx swaps in later behaves the same without setting anything up.
 *
 *   <form data-confirm="Question?">   asks before submitting; "Cancel" stops the submission
 *   <select data-autosubmit>          submits its form when the choice changes
 *   <form data-navigate="field">      goes to the URL chosen in that field instead of submitting
 *   <button data-copy="element-id" data-copied="Copied">
 *                                     copies that element's text, then says so on the button
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (form.dataset.navigate) {
      event.preventDefault();
      var field = form.elements.namedItem(form.dataset.navigate);
      if (field && field.value) {
        window.location.assign(field.value);
      }
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select instanceof HTMLSelectElement && select.hasAttribute("data-autosubmit") &&
        select.form) {
      // requestSubmit, unlike submit, raises the submit event: data-confirm and
      // data-navigate apply as for a click on a submit button.
      select.form.requestSubmit();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button) {
      return;
    }
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    navigator.clipboard.writeText(source.textContent).then(function () {
      if (button.dataset.copied) {
        button.textContent = button.dataset.copied;
      }
    });
  });
})();
