// 我的反映: my reports, newest first, and the reports I follow (附议, or mine merged into them), the latest followed
// first; a page at a time (the API's keyset cursor); each opens its timeline.
const api = require('../../utils/api')
const {beijingTime} = require('../../utils/format')

const PAGE_SIZE = 10
const LISTS = {
  mine: {path: '/api/v1/reports/mine', empty: '您还没有反映过问题。'},
  following: {path: '/api/v1/reports/following', empty: '您还没有附议或关注的反映。'},
}
const RELATION_NAMES = {me_too: '我附议的', merged: '我的反映已并入'}

function summary(report) {
  const photo = report.media.find(item => item.kind === 'photo' && item.urls.thumb)
  return {
    id: report.id,
    category: report.category.name,
    status: report.status,
    statusName: report.status_name,
    description: report.description,
    address: report.address,
    createdAt: beijingTime(report.created_at),
    thumb: photo ? photo.urls.thumb : '',
    awaitingInformation: report.awaiting_information,
    relation: RELATION_NAMES[report.relation] || '',
  }
}

Component({
  data: {list: 'mine', empty: LISTS.mine.empty, items: [], nextCursor: null, loading: false, finished: false,
    failed: false},

  methods: {
    onLoad() {
      return this.reload()
    },

    onShow() {
      // Back from a report's page its status may have moved (withdrawn, rated, reopened): read the list again.
      if (!this.shownBefore) {
        this.shownBefore = true
        return null
      }
      return this.reload()
    },

    onPullDownRefresh() {
      return this.reload().then(() => wx.stopPullDownRefresh())
    },

    onReachBottom() {
      return this.loadMore()
    },

    showList(event) {
      const list = event.currentTarget.dataset.list
      if (list === this.data.list) return Promise.resolve()
      this.setData({list, empty: LISTS[list].empty})
      return this.reload()
    },

    reload() {
      this.setData({items: [], nextCursor: null, finished: false})
      return this.fetchPage(null)
    },

    loadMore() {
      if (this.data.loading || this.data.finished) return Promise.resolve()
      return this.fetchPage(this.data.nextCursor)
    },

    // A failure is shown by utils/api.js; the page keeps what it had and offers to try again.
    // A page that arrives after the resident switched lists is dropped.
    fetchPage(cursor) {
      const list = this.data.list
      this.setData({loading: true, failed: false})
      return api.request('GET', LISTS[list].path, {query: {limit: PAGE_SIZE, cursor}})
        .then(page => {
          if (list !== this.data.list) return
          this.setData({
            items: this.data.items.concat(page.items.map(summary)),
            nextCursor: page.next_cursor,
            finished: !page.next_cursor,
            loading: false,
          })
        })
        .catch(() => {
          if (list === this.data.list) this.setData({loading: false, failed: true})
        })
    },

    openReport(event) {
      wx.navigateTo({url: `/pages/report/detail?id=${event.currentTarget.dataset.id}`})
    },
  },
})
