// The report's pin on a Leaflet map, and the other places a page lists beside it (data-places: a JSON list of
// {lat, lng, label}, each drawn as a labelled marker of its own, such as where 处置's after-photos were taken).
// Coordinates are GCJ-02, like the default AMap tiles.
(function () {
  var element = document.getElementById("report-map");
  if (!element || typeof L === "undefined") { return; }
  var point = [parseFloat(element.dataset.lat), parseFloat(element.dataset.lng)];
  var places = JSON.parse(element.dataset.places || "[]");
  var map = L.map(element, { attributionControl: false });
  // The view is set once, before anything is drawn: no animation moves the markers after the page is ready.
  if (places.length) {
    var bounds = L.latLngBounds([point]);
    places.forEach(function (place) { bounds.extend([place.lat, place.lng]); });
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 17, animate: false });
  } else {
    map.setView(point, 17);
  }
  if (element.dataset.tiles) {
    L.tileLayer(element.dataset.tiles, { subdomains: ["1", "2", "3", "4"], maxZoom: 19 }).addTo(map);
  }
  L.circleMarker(point, { radius: 9, color: "#c62828", fillOpacity: 0.8, className: "report-marker" }).addTo(map);
  places.forEach(function (place) {
    L.circleMarker([place.lat, place.lng], { radius: 7, color: "#1565c0", fillColor: "#ffffff", fillOpacity: 1,
                                             weight: 3, className: "place-marker" })
      .bindTooltip(place.label, { permanent: true, direction: "top", className: "place-label" }).addTo(map);
  });
  element.dataset.ready = "true";
})();
