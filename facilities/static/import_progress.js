// The import's page while its job runs: polls the progress endpoint and moves the bar; once the import has ended,
// reloads the page, which then lists the rejected rows. No library: the admin loads no script from elsewhere.
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  if (!section || section.dataset.done === "true") {
    return;
  }
  var bar = section.querySelector("progress");
  var POLL_MS = 1000;

  function show(progress) {
    section.querySelectorAll("[data-field]").forEach(function (element) {
      var value = progress[element.dataset.field];
      if (element.dataset.field === "rows_total" && value === null) {
        return;
      }
      if (value !== null && value !== undefined) {
        element.textContent = element.dataset.field === "failure" ? "导入失败：" + value : value;
      }
    });
    if (progress.rows_total) {
      bar.max = progress.rows_total;
      bar.value = progress.rows_read;
    }
  }

  function poll() {
    fetch(section.dataset.progressUrl, {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        show(progress);
        if (progress.done) {
          window.location.reload();
        } else {
          window.setTimeout(poll, POLL_MS);
        }
      })
      .catch(function () {
        window.setTimeout(poll, POLL_MS * 5);  // the server restarting, or the network: try again, less often
      });
  }

  window.setTimeout(poll, POLL_MS);
}());
