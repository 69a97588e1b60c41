// 公厕查询 / 设施: the facilities of a kind nearest to me on a map, whether each is open now, how far, navigation
// there (wx.openLocation), and a problem report about one (我拍我城, prefilled with the API's `report`). Points go
// to the API and come back in GCJ-02: the datum of wx.getLocation({type: 'gcj02'}), <map> and wx.openLocation.
const api = require('../../utils/api')
const {distance} = require('../../utils/units')

const TOILET = '0301'
const NEAREST_COUNT = 10
const REPORT_PAGE = '/pages/report/new'

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
    latitude: 0, longitude: 0, facilities: [], markers: [], selectedId: null, loading: false,
  },

  methods: {
    onLoad() {
      return Promise.all([this.loadKinds(), this.locate()]).then(() => this.search())
    },

    loadKinds() {
      return api.request('GET', '/api/v1/facility-kinds', {auth: false}).then(kinds => {
        const offered = kinds.filter(kind => kind.shown_to_residents)
        this.setData({kinds: offered, kindIndex: Math.max(offered.findIndex(kind => kind.code === TOILET), 0)})
      }).catch(() => {})
    },

    locate() {
      return new Promise(resolve => wx.getLocation({
        type: 'gcj02',
        success: ({latitude, longitude}) => resolve(this.setData({latitude, longitude, located: true})),
        fail: () => {
          wx.showModal({title: '无法定位', content: '请在设置中允许小程序使用您的位置，以查找附近的设施。',
            showCancel: false})
          resolve()
        },
      }))
    },

    search() {
      const kind = this.data.kinds[this.data.kindIndex]
      if (!kind || !this.data.located) return Promise.resolve()
      this.setData({loading: true})
      const query = {lat: this.data.latitude, lng: this.data.longitude, coord_type: 'gcj02', kind: kind.code,
        limit: NEAREST_COUNT, open_now: this.data.openNow}
      return api.request('GET', '/api/v1/facilities/nearest', {query, auth: false}).then(answer => {
        const facilities = answer.facilities.map(shown)
        this.setData({facilities, markers: facilities.map(marker), loading: false,
          selectedId: facilities.length ? facilities[0].id : null})
      }).catch(() => this.setData({loading: false}))
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
