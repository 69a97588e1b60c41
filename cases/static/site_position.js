// 处置's form sends where the browser is with the photos: a photo whose GPS the phone or browser stripped is judged
// by it (WGS-84, as navigator.geolocation gives it, with its accuracy). Without a position only photos with GPS pass.
(function () {
  var form = document.querySelector("form[aria-label='处置']");
  if (!form) { return; }
  var status = form.querySelector(".site-position");
  var fields = [form.elements.upload_lat, form.elements.upload_lng, form.elements.upload_accuracy_m];
  function unknown(why) {
    status.textContent = why + "：照片须带有拍摄位置（GPS）。";
  }
  if (!navigator.geolocation) { unknown("浏览器不支持定位"); return; }
  navigator.geolocation.getCurrentPosition(function (position) {
    var coords = position.coords;
    [coords.latitude, coords.longitude, coords.accuracy].forEach(function (value, index) {
      fields[index].value = String(value);
      fields[index].disabled = false;
    });
    status.textContent = "已获取当前位置（误差约 " + Math.round(coords.accuracy) + " 米）；照片没有拍摄位置时以此为准。";
    form.dataset.positioned = "true";
  }, function () {
    unknown("未能获取当前位置");
  }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
})();
