// 我拍我城: a problem reported with its category, place, photos (a video, a voice note) and description. Problems
// already reported nearby come first, so that a resident joins one (附议) instead of filing it again.
const api = require('../../utils/api')
const withAttachments = require('../../behaviors/attachments')

const MAX_PHOTOS = 9
// The statuses in which the backend takes a 附议 (POST /reports/{id}/me-too).
const JOINABLE = ['accepted', 'forwarded', 'in_progress']
const KIND_NAMES = {component: '部件', event: '事件'}

function categoryColumns(classes, classIndex) {
  const chosen = classes[classIndex]
  return [
    classes.map(group => `${KIND_NAMES[group.kind] || group.kind}·${group.name}`),
    chosen ? chosen.categories.map(category => category.name) : [],
  ]
}

// WeChat hands a page its query percent-encoded; a value that is no valid encoding is kept as it came.
function decoded(value) {
  try {
    return decodeURIComponent(value)
  } catch (error) {
    return value
  }
}

/** The place a page that opened this one passed (公厕查询's 反映问题: a facility's GCJ-02 point and address), if any. */
function prefilledPlace(query) {
  const latitude = Number(query.lat)
  const longitude = Number(query.lng)
  if (query.coord_type !== 'gcj02' || !Number.isFinite(latitude) || !Number.isFinite(longitude)) return null
  return {location: {latitude, longitude}, address: decoded(query.address || '')}
}

function nearbyItem(report) {
  return {
    id: report.id,
    category: report.category.name,
    status: report.status_name,
    description: report.description,
    distance: `${report.distance_m} 米`,
    meTooCount: report.me_too_count,
    relation: report.relation,
    canJoin: !report.relation && JOINABLE.indexOf(report.status) >= 0,
  }
}

Component({
  behaviors: [withAttachments],

  data: {
    classes: [],
    categoryColumns: [[], []],
    categoryIndex: [0, 0],
    category: null,
    locationState: 'locating',
    location: null,
    address: '',
    nearby: [],
    photoCount: 0,
    hasVideo: false,
    description: '',
    templateIds: [],
    submitting: false,
  },

  methods: {
    onLoad(query = {}) {
      // The key of the report being written: kept across retries of the same report, renewed when it changes.
      this.idempotencyKey = null
      const place = prefilledPlace(query)
      if (place) this.setData({locationState: 'located', ...place})
      return Promise.all([this.loadCategories(decoded(query.category_code || '')), this.loadTemplates(),
        place ? this.loadNearby() : this.locate()]).catch(() => {})
    },

    loadCategories(prefilledCode) {
      return api.request('GET', '/api/v1/categories').then(({classes}) => {
        this.setData({classes, categoryColumns: categoryColumns(classes, 0)})
        const classIndex = classes.findIndex(group => group.categories.some(each => each.id === prefilledCode))
        if (classIndex >= 0) {
          this.setData({categoryColumns: categoryColumns(classes, classIndex)})
          this.selectCategory(classIndex, classes[classIndex].categories.findIndex(each => each.id === prefilledCode))
        }
      })
    },

    loadTemplates() {
      return api.statusMessageTemplates().then(templateIds => this.setData({templateIds}))
    },

    locate() {
      return new Promise(resolve => {
        wx.getLocation({
          type: 'gcj02',
          success: ({latitude, longitude}) => {
            this.setData({locationState: 'located', location: {latitude, longitude}})
            resolve(this.loadNearby())
          },
          // Without the permission the resident picks the place on the map instead.
          fail: () => {
            this.setData({locationState: 'denied'})
            resolve()
          },
        })
      })
    },

    chooseOnMap() {
      const {location} = this.data
      wx.chooseLocation({
        ...(location || {}),
        success: ({name, address, latitude, longitude}) => {
          const place = address && name && address.indexOf(name) < 0 ? `${address}${name}` : (address || name || '')
          this.setData({locationState: 'located', location: {latitude, longitude}, address: place})
          this.draftChanged()
          this.loadNearby()
        },
        fail: () => {},
      })
    },

    loadNearby() {
      const {latitude, longitude} = this.data.location
      return api.request('GET', '/api/v1/reports/nearby', {query: {lat: latitude, lng: longitude,
        coord_type: 'gcj02'}}).then(({items}) => this.setData({nearby: items.map(nearbyItem)}))
    },

    joinNearby(event) {
      const {id} = event.currentTarget.dataset
      return api.request('POST', `/api/v1/reports/${id}/me-too`).then(() => {
        wx.showToast({title: '已附议，处理进展会通知您', icon: 'none'})
        wx.navigateTo({url: `/pages/report/detail?id=${id}`})
      }).catch(() => {})
    },

    // The report page shows a report to its reporter and followers only: the others read it here, and join it.
    openNearby(event) {
      const {id, followed} = event.currentTarget.dataset
      if (followed) wx.navigateTo({url: `/pages/report/detail?id=${id}`})
    },

    onCategoryColumnChange(event) {
      const {column, value} = event.detail
      if (column !== 0) return
      this.setData({categoryColumns: categoryColumns(this.data.classes, value), categoryIndex: [value, 0]})
    },

    onCategoryChange(event) {
      const [classIndex, categoryIndex] = event.detail.value
      this.selectCategory(classIndex, categoryIndex)
    },

    selectCategory(classIndex, categoryIndex) {
      const group = this.data.classes[classIndex]
      const category = group && group.categories[categoryIndex]
      if (!category) return
      this.setData({category: {id: category.id, name: category.name, hint: category.hint, className: group.name},
        categoryIndex: [classIndex, categoryIndex]})
      this.draftChanged()
    },

    onDescriptionInput(event) {
      this.setData({description: event.detail.value})
      this.draftChanged()
    },

    addMedia() {
      const {photoCount, hasVideo} = this.data
      wx.chooseMedia({
        count: Math.max(1, MAX_PHOTOS - photoCount),
        mediaType: hasVideo ? ['image'] : ['image', 'video'],
        sourceType: ['album', 'camera'],
        // The original keeps the camera's position and time, which the backend checks against the report's.
        sizeType: ['original'],
        maxDuration: 60,
        success: ({tempFiles}) => {
          let photos = photoCount
          let video = hasVideo
          tempFiles.forEach(file => {
            if (file.fileType === 'video' ? video : photos >= MAX_PHOTOS) return
            if (file.fileType === 'video') video = true
            else photos += 1
            this.attach(file.fileType === 'video' ? 'video' : 'photo', file.tempFilePath)
          })
        },
        fail: () => {},
      })
    },

    attachmentsChanged() {
      const {attachments} = this.data
      this.setData({photoCount: attachments.filter(item => item.kind === 'photo').length,
        hasVideo: attachments.some(item => item.kind === 'video')})
      this.draftChanged()
    },

    draftChanged() {
      this.idempotencyKey = null
    },

    missing() {
      const {category, location, description, photoCount} = this.data
      if (!category) return '请选择问题类别'
      if (!location) return '请选择问题位置'
      if (!photoCount) return '请至少拍一张照片'
      const unready = this.attachmentsUnready()
      if (unready) return unready
      if (!description.trim()) return '请描述问题'
      return null
    },

    submit() {
      const missing = this.missing()
      if (missing) {
        wx.showToast({title: missing, icon: 'none'})
        return Promise.resolve()
      }
      if (this.data.submitting) return Promise.resolve()
      // WeChat's permission dialog opens only from the tap itself, before any call is awaited; once per report.
      if (!this.askedForMessages) {
        this.askedForMessages = api.subscribeToStatusMessages(this.data.templateIds).catch(() => null)
      }
      if (!this.idempotencyKey) this.idempotencyKey = api.newIdempotencyKey()
      const {category, location, address, description} = this.data
      this.setData({submitting: true})
      return api.request('POST', '/api/v1/reports', {
        idempotencyKey: this.idempotencyKey,
        data: {
          category_code: category.id,
          description: description.trim(),
          location: {lat: location.latitude, lng: location.longitude, coord_type: 'gcj02'},
          address,
          media_ids: this.attachedMediaIds(),
        },
      }).then(report => this.askedForMessages.then(() => {
        this.idempotencyKey = null
        this.askedForMessages = null
        wx.redirectTo({url: `/pages/report/detail?id=${report.id}`})
      })).catch(() => {
        // Shown already; the same key goes with the retry, so a report that did arrive is not filed twice.
      }).then(() => this.setData({submitting: false}))
    },
  },
})
