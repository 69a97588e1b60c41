// Drawing the boxes to blur in a photo's public copy (faces, plates). Boxes are kept as fractions of the
// picture, so they fit however large it is shown; the form posts them in displayed pixels with the
// displayed size, and the server turns them back into fractions of the photo.
(function () {
  var MIN_SHARE = 0.005;  // a click without a drag draws nothing

  function setUp(form) {
    var canvas = form.querySelector(".redaction-canvas");
    var image = canvas && canvas.querySelector("img");
    if (!image) { return; }
    var boxes = [];
    try { boxes = JSON.parse(canvas.dataset.boxes || "[]"); } catch (error) { boxes = []; }
    var start = null;
    var drawn = null;

    function place(element, box) {
      element.style.left = box[0] * 100 + "%";
      element.style.top = box[1] * 100 + "%";
      element.style.width = box[2] * 100 + "%";
      element.style.height = box[3] * 100 + "%";
    }

    function show() {
      canvas.querySelectorAll(".redaction-box").forEach(function (element) { element.remove(); });
      boxes.forEach(function (box) {
        var element = document.createElement("div");
        element.className = "redaction-box";
        place(element, box);
        canvas.appendChild(element);
      });
      canvas.dataset.boxCount = String(boxes.length);
    }

    function pointAt(event) {
      var bounds = image.getBoundingClientRect();
      return [Math.min(1, Math.max(0, (event.clientX - bounds.left) / bounds.width)),
              Math.min(1, Math.max(0, (event.clientY - bounds.top) / bounds.height))];
    }

    function boxFrom(end) {
      return [Math.min(start[0], end[0]), Math.min(start[1], end[1]),
              Math.abs(end[0] - start[0]), Math.abs(end[1] - start[1])];
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      start = pointAt(event);
      drawn = document.createElement("div");
      drawn.className = "redaction-box";
      canvas.appendChild(drawn);
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (start) { place(drawn, boxFrom(pointAt(event))); }
    });
    canvas.addEventListener("pointerup", function (event) {
      if (!start) { return; }
      var box = boxFrom(pointAt(event));
      start = null;
      if (box[2] > MIN_SHARE && box[3] > MIN_SHARE) { boxes.push(box); }
      show();
    });
    form.querySelector(".redaction-clear").addEventListener("click", function () {
      boxes = [];
      show();
    });
    form.addEventListener("submit", function () {
      var bounds = image.getBoundingClientRect();
      form.elements.boxes.value = JSON.stringify(boxes.map(function (box) {
        return [box[0] * bounds.width, box[1] * bounds.height, box[2] * bounds.width, box[3] * bounds.height];
      }));
      form.elements.display_width.value = String(bounds.width);
      form.elements.display_height.value = String(bounds.height);
    });
    show();
    canvas.dataset.ready = "true";
  }

  document.querySelectorAll("form.redaction").forEach(setUp);
})();
