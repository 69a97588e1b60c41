// One report as its resident reads it (their own, or one they follow): its status and its timeline, with what
// staff replied and the photos. Subscribe messages open this page (WECHAT_STATUS_PAGE, ?id=<report>).
const api = require('../../utils/api')
const {beijingTime} = require('../../utils/format')

const BY_NAMES = {resident: '我', staff: '工作人员', case_system: '处置部门', system: '系统'}

function timelineEntry(step, index) {
  return {
    key: `s${index}`,
    statusName: step.status_name,
    at: beijingTime(step.at),
    by: BY_NAMES[step.by] || '工作人员',
    note: step.note || '',
    photos: step.media.filter(item => item.kind === 'photo').map(item => item.urls.thumb || item.urls.large),
    fullPhotos: step.media.filter(item => item.kind === 'photo').map(item => item.urls.large || item.urls.thumb),
  }
}

Component({
  data: {
    loaded: false,
    report: null,
    timeline: [],
  },

  methods: {
    onLoad({id}) {
      this.reportId = id
      return this.load()
    },

    load() {
      return api.request('GET', `/api/v1/reports/${this.reportId}`).then(report => {
        const photos = report.media.filter(item => item.kind === 'photo')
        this.setData({
          loaded: true,
          report: {
            id: report.id,
            category: report.category.name,
            statusName: report.status_name,
            description: report.description,
            address: report.address,
            createdAt: beijingTime(report.created_at),
            meTooCount: report.me_too_count,
            relation: report.relation,
            photos: photos.map(item => item.urls.thumb || item.urls.large),
            fullPhotos: photos.map(item => item.urls.large || item.urls.thumb),
          },
          // Newest first, as residents read a thread of replies.
          timeline: report.timeline.map(timelineEntry).reverse(),
        })
      }).catch(() => {})
    },

    previewPhoto(event) {
      const {urls, index} = event.currentTarget.dataset
      wx.previewImage({urls, current: urls[index]})
    },
  },
})
