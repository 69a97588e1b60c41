// 公厕查询 / 设施: the facilities of a kind nearest to me on a map, whether each is open now, how far, navigation
// there (wx.openLocation), and a problem report about one (我拍我城, prefilled with the API's `report`). Dragging the
// map looks around its new centre instead, with the same kind and 只看开放中; 回到我的位置 comes back. Points go to
// the API and come back in GCJ-02: the datum of wx.getLocation({type: 'gcj02'}), <map>, its MapContext and
// wx.openLocation.
const api = require('../../utils/api')
const {distance} = require('../../utils/units')

const TOILET = '0301'
const NEAREST_COUNT = 10
const REPORT_PAGE = '/pages/report/new'
// A drag often comes in several moves: the search waits until the map has been still this long.
const SEARCH_AFTER_DRAG_MS = 400

function shown(facility) {
  const point = facility.location.gcj02
  const {free, accessible, baby_changing: babyChanging} = facility.attributes
  return {
    id: facility.id,
    name: facility.name,
    address: facility.address,
    latitude: point.lat,
    longitude: point.lng,
    distance: distance(facility.distance_m),
    openNow: facility.open_now,
    openingHours: facility.opening_hours || '',
    underRepair: facility.status === 'under_repair',
    features: [free && '免费', accessible && '无障碍', babyChanging && '母婴'].filter(Boolean),
    report: facility.report,
  }
}

function marker(facility) {
  return {
    id: facility.id, latitude: facility.latitude, longitude: facility.longitude, title: facility.name,
    width: 28, height: 28, callout: {content: `${facility.name} ${facility.distance}`, display: 'BYCLICK'},
  }
}

function queryString(values) {
  return Object.keys(values).filter(key => values[key] !== null && values[key] !== undefined)
    .map(key => `${key}=${encodeURIComponent(values[key])}`).join('&')
}

Component({
  data: {
    kinds: [], kindIndex: 0, openNow: false, located: false,
    // The map's first centre (bound once: it moves by the resident's drags and moveToLocation after that), the
    // resident's own position, and the point the list is around, with whether that is the resident's.
    latitude: 0, longitude: 0, myLocation: null, centre: null, aroundMe: true,
    facilities: [], markers: [], selectedId: null, loading: false,
  },

  methods: {
    onLoad() {
      this.map = wx.createMapContext('map', this)
      this.searches = 0
      return Promise.all([this.loadKinds(), this.locate()]).then(([, me]) => {
        if (!me) return null
        this.setData({latitude: me.latitude, longitude: me.longitude, centre: me})
        return this.search()
      })
    },

    onUnload() {
      clearTimeout(this.dragTimer)
    },

    loadKinds() {
      return api.request('GET', '/api/v1/facility-kinds', {auth: false}).then(kinds => {
        const offered = kinds.filter(kind => kind.shown_to_residents)
        this.setData({kinds: offered, kindIndex: Math.max(offered.findIndex(kind => kind.code === TOILET), 0)})
      }).catch(() => {})
    },

    // Resolves with the resident's GCJ-02 position, or null when it cannot be had.
    locate() {
      return new Promise(resolve => wx.getLocation({
        type: 'gcj02',
        success: ({latitude, longitude}) => {
          this.setData({myLocation: {latitude, longitude}, located: true})
          resolve({latitude, longitude})
        },
        fail: () => {
          wx.showModal({title: '无法定位', content: '请在设置中允许小程序使用您的位置，以查找附近的设施。',
            showCancel: false})
          resolve(null)
        },
      }))
    },

    // The list and markers never touch the map's centre: a dragged map stays where the resident left it.
    search() {
      const {kinds, kindIndex, centre, openNow} = this.data
      const kind = kinds[kindIndex]
      if (!kind || !centre) return Promise.resolve()
      // Only the latest search is shown: an earlier one answering late would put back a place the map has left.
      this.searches += 1
      const searched = this.searches
      this.setData({loading: true})
      const query = {lat: centre.latitude, lng: centre.longitude, coord_type: 'gcj02', kind: kind.code,
        limit: NEAREST_COUNT, open_now: openNow}
      return api.request('GET', '/api/v1/facilities/nearest', {query, auth: false}).then(answer => {
        if (searched !== this.searches) return
        const facilities = answer.facilities.map(shown)
        this.setData({facilities, markers: facilities.map(marker), loading: false,
          selectedId: facilities.length ? facilities[0].id : null})
      }).catch(() => {
        if (searched === this.searches) this.setData({loading: false})
      })
    },

    // WeChat tells a move twice (begin, end); only the resident's own drags and zooms end in a search, the page's
    // moves ('update': 回到我的位置) search by themselves.
    onRegionChange(event) {
      const {type, causedBy} = event.detail
      if (type !== 'end' || causedBy === 'update') return
      clearTimeout(this.dragTimer)
      this.dragTimer = setTimeout(() => this.searchMapCentre(), SEARCH_AFTER_DRAG_MS)
    },

    searchMapCentre() {
      this.map.getCenterLocation({
        success: ({latitude, longitude}) => {
          this.setData({centre: {latitude, longitude}, aroundMe: false})
          this.search()
        },
        // The map could not say where it is: the list stays as it was.
        fail: () => {},
      })
    },

    // The resident may have walked on: located again, the map brought there, the list around them.
    backToMe() {
      clearTimeout(this.dragTimer)
      return this.locate().then(me => me && new Promise(resolve => this.map.moveToLocation({
        ...me,
        success: () => {
          this.setData({centre: me, aroundMe: true})
          resolve(this.search())
        },
        fail: () => resolve(null),
      })))
    },

    chooseKind(event) {
      this.setData({kindIndex: Number(event.detail.value)})
      return this.search()
    },

    toggleOpenNow(event) {
      this.setData({openNow: event.detail.value})
      return this.search()
    },

    selectMarker(event) {
      this.setData({selectedId: event.detail.markerId})
    },

    facilityOf(event) {
      const id = Number(event.currentTarget.dataset.id)
      return this.data.facilities.find(facility => facility.id === id)
    },

    navigate(event) {
      const facility = this.facilityOf(event)
      wx.openLocation({latitude: facility.latitude, longitude: facility.longitude, name: facility.name,
        address: facility.address, scale: 17})
    },

    // 我拍我城 opened with the facility's category, place (GCJ-02, with its coord_type) and address.
    reportProblem(event) {
      wx.navigateTo({url: `${REPORT_PAGE}?${queryString(this.facilityOf(event).report)}`})
    },
  },
})
