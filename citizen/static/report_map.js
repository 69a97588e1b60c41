// The report's pin on a Leaflet map. Coordinates are GCJ-02, like the default AMap tiles.
(function () {
  var element = document.getElementById("report-map");
  if (!element || typeof L === "undefined") { return; }
  var point = [parseFloat(element.dataset.lat), parseFloat(element.dataset.lng)];
  var map = L.map(element, { attributionControl: false }).setView(point, 17);
  if (element.dataset.tiles) {
    L.tileLayer(element.dataset.tiles, { subdomains: ["1", "2", "3", "4"], maxZoom: 19 }).addTo(map);
  }
  L.circleMarker(point, { radius: 9, color: "#c62828", fillOpacity: 0.8 }).addTo(map);
  element.dataset.ready = "true";
})();
