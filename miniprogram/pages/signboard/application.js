// One signboard application, followed: its status, what the automatic checks found, the reviewer's comment, the
// steps so far, and once approved its certificate (门头招牌设置核准证明): downloaded with my token and opened as PDF.
const api = require('../../utils/api')
const config = require('../../config')
const {beijingTime} = require('../../utils/format')

const EDITABLE = ['draft', 'changes_requested']
// The statuses' names as the API's status_label gives the current one, for the steps that led to it.
const STATUS_LABELS = {draft: '待修改（未通过自动检查）', submitted: '待审核', changes_requested: '需修改',
  approved: '已批准', rejected: '未通过'}

function shown(application) {
  return {
    id: application.id,
    shopName: application.shop_name,
    address: application.address,
    status: application.status,
    statusLabel: application.status_label,
    preview: config.baseUrl() + application.preview_url,
    findings: application.checks.filter(check => !check.passed),
    reviewerComment: application.reviewer_comment || '',
    certificateNumber: application.certificate_number,
    editable: EDITABLE.indexOf(application.status) >= 0,
    steps: application.events.map((event, index) => ({
      key: index, at: beijingTime(event.occurred_at), statusLabel: STATUS_LABELS[event.to_status] || '',
      comment: event.comment || '',
    })).reverse(),
  }
}

Component({
  data: {application: null, busy: false},

  methods: {
    onLoad(options) {
      this.applicationId = Number(options.id)
      return this.load()
    },

    onShow() {
      // Back from resubmitting, the status has moved.
      if (!this.shownBefore) {
        this.shownBefore = true
        return null
      }
      return this.load()
    },

    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },

    load() {
      return api.request('GET', `/api/v1/signboard-applications/${this.applicationId}`)
        .then(application => this.setData({application: shown(application)}))
        .catch(() => {})
    },

    openCertificate() {
      this.setData({busy: true})
      const url = `${config.baseUrl()}/api/v1/signboard-applications/${this.applicationId}/certificate.pdf`
      return api.download(url, {auth: true})
        .then(filePath => new Promise(resolve => wx.openDocument({
          filePath,
          fileType: 'pdf',
          showMenu: true,
          success: () => resolve(filePath),
          fail: () => {
            wx.showToast({title: '无法打开核准证明', icon: 'none'})
            resolve(null)
          },
        })))
        .catch(() => null)
        .then(opened => {
          this.setData({busy: false})
          return opened
        })
    },

    edit() {
      wx.navigateTo({url: `/pages/signboard/apply?id=${this.applicationId}`})
    },
  },
})
