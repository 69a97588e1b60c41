// 门头招牌: the 108 templates by business category, a live preview of the chosen template with my shop's name (the
// preview API's own picture, drawn by the server at the sign's size), and my applications to follow. A preview
// that cannot be drawn (a character the typeface lacks, too many renderings) is asked for again as JSON to show
// the API's own reason.
const api = require('../../utils/api')
const config = require('../../config')
const fields = require('../../utils/fields')
const LABELS = require('./labels')

const PREVIEW_DELAY_MS = 400

function absolute(path) {
  return config.baseUrl() + path
}

function previewPath(templateId) {
  return `/api/v1/signboard-templates/${encodeURIComponent(templateId)}/preview.png`
}

Component({
  data: {categories: [], categoryIndex: 0, templates: [], templateId: '', shopName: '', preview: '',
    applications: [], loading: false},

  methods: {
    onLoad() {
      return Promise.all([this.loadCategories(), this.loadApplications()])
    },

    onShow() {
      if (!this.shownBefore) {
        this.shownBefore = true
        return null
      }
      return this.loadApplications()
    },

    loadCategories() {
      return api.request('GET', '/api/v1/signboard-categories', {auth: false}).then(categories => {
        this.setData({categories: categories.map(category => ({
          code: category.code, name: category.name, count: category.template_count,
        }))})
        return this.loadTemplates()
      }).catch(() => {})
    },

    loadTemplates() {
      const category = this.data.categories[this.data.categoryIndex]
      this.setData({loading: true})
      return api.request('GET', '/api/v1/signboard-templates', {query: {category: category.code}, auth: false})
        .then(({templates}) => {
          this.setData({loading: false, templates: templates.map(template => ({
            id: template.id, name: template.name, sample: absolute(template.sample_preview_url),
            size: `${template.default_size.width_m} × ${template.default_size.height_m} 米`,
          }))})
          return this.chooseTemplateById(templates.length ? templates[0].id : '')
        })
        .catch(() => this.setData({loading: false}))
    },

    loadApplications() {
      return api.request('GET', '/api/v1/signboard-applications/mine')
        .then(applications => this.setData({applications: applications.map(application => ({
          id: application.id, shopName: application.shop_name, status: application.status,
          statusLabel: application.status_label,
        }))}))
        .catch(() => {})
    },

    chooseCategory(event) {
      this.setData({categoryIndex: Number(event.currentTarget.dataset.index)})
      return this.loadTemplates()
    },

    chooseTemplate(event) {
      return this.chooseTemplateById(event.currentTarget.dataset.id)
    },

    chooseTemplateById(templateId) {
      this.setData({templateId})
      this.showPreview()
    },

    // The picture follows the typing once it pauses, so that a name is drawn once, not once a keystroke.
    typeShopName(event) {
      this.setData({shopName: event.detail.value})
      clearTimeout(this.previewTimer)
      this.previewTimer = setTimeout(() => this.showPreview(), PREVIEW_DELAY_MS)
    },

    showPreview() {
      const templateId = this.data.templateId
      const shopName = this.data.shopName.trim()
      this.previewing = templateId && shopName ? {templateId, shopName} : null
      this.setData({preview: this.previewing
        ? absolute(`${previewPath(templateId)}?shop_name=${encodeURIComponent(shopName)}`) : ''})
    },

    // <image> tells only that the picture failed: the same call as JSON answers why (the shop name's problem, in
    // the API's words, or what utils/api.js shows of any other error).
    previewFailed() {
      const failed = this.previewing
      if (!failed) return Promise.resolve()
      return api.request('GET', previewPath(failed.templateId),
        {query: {shop_name: failed.shopName}, auth: false, handled: ['validation_error']})
        .catch(error => {
          if (error.code === 'validation_error') fields.show(error, LABELS)
          if (this.previewing === failed) this.setData({preview: ''})
        })
    },

    apply() {
      const {templateId, shopName} = this.data
      const category = this.data.categories[this.data.categoryIndex].code
      wx.navigateTo({url: `/pages/signboard/apply?template_id=${encodeURIComponent(templateId)}` +
        `&category=${category}&shop_name=${encodeURIComponent(shopName.trim())}`})
    },

    openApplication(event) {
      wx.navigateTo({url: `/pages/signboard/application?id=${event.currentTarget.dataset.id}`})
    },
  },
})
