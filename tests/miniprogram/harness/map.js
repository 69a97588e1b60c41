// WeChat's <map> as far as the pages use it, in place of the built-in one that miniprogram-simulate draws as an empty
// element. Its centre (GCJ-02, the map's datum) is where its latitude/longitude bindings put it, moved again only when
// a binding's value changes (WeChat applies changed attributes only: binding the same centre again does not bring a
// dragged map back), by the resident dragging it (``drag``), or by MapContext.moveToLocation. Every move is told with
// regionchange, begin then end, as WeChat tells it: causedBy 'gesture' / 'drag' for the resident's drag, 'update' for
// the page's own moves. wx.createMapContext (./wx.js) reaches the map through its page.
const simulate = require('miniprogram-simulate')

function later(run) {
  setTimeout(run, 0)
}

module.exports = simulate.load({
  template: '<view class="map"><slot></slot></view>',
  properties: {
    latitude: {type: Number, value: 0},
    longitude: {type: Number, value: 0},
    scale: {type: Number, value: 16},
    markers: {type: Array, value: []},
    showLocation: {type: Boolean, value: false},
  },
  observers: {
    'latitude, longitude'(latitude, longitude) {
      const earlier = this.bound
      this.bound = {latitude, longitude}
      if (!earlier) this.centre = {latitude, longitude}
      else if (earlier.latitude !== latitude || earlier.longitude !== longitude) this.moveTo(this.bound, 'update')
    },
  },
  lifetimes: {
    attached() {
      if (!this.bound) this.bound = this.centre = {latitude: this.data.latitude, longitude: this.data.longitude}
    },
  },
  methods: {
    regionChange(type, causedBy) {
      this.triggerEvent('regionchange', {type, causedBy, scale: this.data.scale, rotate: 0, skew: 0,
        centerLocation: {...this.centre}})
    },

    /** The page's own move (a changed binding, moveToLocation): WeChat animates it and tells it when done. */
    moveTo(point, causedBy) {
      later(() => {
        this.regionChange('begin', causedBy)
        this.centre = {latitude: point.latitude, longitude: point.longitude}
        later(() => this.regionChange('end', causedBy))
      })
    },

    /** The resident drags the map until ``point`` is at its centre. */
    drag(point) {
      this.regionChange('begin', 'gesture')
      this.centre = {latitude: point.latitude, longitude: point.longitude}
      this.regionChange('end', 'drag')
    },
  },
})
