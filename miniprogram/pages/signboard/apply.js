// 门头招牌申请: the shop's licence and place (wx.chooseLocation, GCJ-02), the facade and its photo (taken now and
// sent whole with wx.uploadFile), the sign's size and mounting. The automatic checks can be run before sending and
// come back with the application. Opened with ?id= it resubmits one sent back (draft, or changes requested).
const api = require('../../utils/api')
const fields = require('../../utils/fields')
const LABELS = require('./labels')

const DECIMAL_FIELDS = ['facade_width_m', 'facade_height_m', 'sign_width_m', 'sign_height_m', 'sign_thickness_m',
  'protrusion_m', 'mount_height_m']
const WHOLE_FIELDS = ['floor', 'building_storeys']
const EMPTY_FORM = {
  shop_name: '', licence_name: '', credit_code: '', category: '', template_id: '', address: '',
  latitude: null, longitude: null, facade_width_m: '', facade_height_m: '', floor: '1', building_storeys: '',
  pedestrian_street: false, sign_width_m: '', sign_height_m: '', sign_thickness_m: '0.2', protrusion_m: '0.2',
  mount_height_m: '', mount_position: 'lintel', facade_photo_media_id: null,
}

// A value of the page's query as written: WeChat hands them over still percent-encoded (a test harness may not).
function fromQuery(value) {
  try {
    return decodeURIComponent(value || '')
  } catch (notEncoded) {
    return value
  }
}

// A typed number as the API takes it; what is not one is sent as typed, for the API to name the field.
function numberOf(text, parse) {
  const value = parse(text)
  return Number.isNaN(value) ? text : value
}

Component({
  data: {
    form: EMPTY_FORM, coordType: 'gcj02', mountPositions: [], mountIndex: 0, facadePhoto: '', uploadProgress: 0,
    checks: [], invalid: {}, busy: false,
  },

  methods: {
    onLoad(options) {
      this.applicationId = options.id ? Number(options.id) : null
      const rules = api.request('GET', '/api/v1/signboard-rules', {auth: false}).then(({mount_positions: positions}) => {
        this.setData({mountPositions: Object.keys(positions).map(code => ({code, name: positions[code]}))})
        this.showMountPosition()
      })
      const started = this.applicationId ? this.loadApplication() : this.startFromTemplate(options)
      return Promise.all([rules, started]).catch(() => {})
    },

    startFromTemplate(options) {
      const templateId = fromQuery(options.template_id)
      this.setData({'form.template_id': templateId, 'form.category': fromQuery(options.category),
        'form.shop_name': fromQuery(options.shop_name)})
      if (!templateId) return Promise.resolve()
      return api.request('GET', `/api/v1/signboard-templates/${encodeURIComponent(templateId)}`, {auth: false})
        .then(({default_size: size}) => this.setData({
          'form.sign_width_m': String(size.width_m), 'form.sign_height_m': String(size.height_m),
        }))
    },

    // An application sent back keeps its answers; its place comes back as stored, in WGS-84 (coord_type says so).
    loadApplication() {
      return api.request('GET', `/api/v1/signboard-applications/${this.applicationId}`).then(application => {
        const form = {}
        Object.keys(EMPTY_FORM).forEach(key => { form[key] = application[key] })
        this.setData({form, coordType: application.coord_type, checks: application.checks})
        this.showMountPosition()
      })
    },

    showMountPosition() {
      const index = this.data.mountPositions.findIndex(position => position.code === this.data.form.mount_position)
      this.setData({mountIndex: Math.max(index, 0)})
    },

    type(event) {
      this.setData({[`form.${event.currentTarget.dataset.field}`]: event.detail.value})
    },

    togglePedestrianStreet(event) {
      this.setData({'form.pedestrian_street': event.detail.value})
    },

    chooseMountPosition(event) {
      const mountIndex = Number(event.detail.value)
      this.setData({mountIndex, 'form.mount_position': this.data.mountPositions[mountIndex].code})
    },

    chooseLocation() {
      return new Promise(resolve => wx.chooseLocation({
        success: ({latitude, longitude, address, name}) => resolve(this.setData({
          'form.latitude': latitude, 'form.longitude': longitude, coordType: 'gcj02',
          'form.address': this.data.form.address || [address, name].filter(Boolean).join(' '),
        })),
        fail: () => resolve(),
      }))
    },

    takeFacadePhoto() {
      return new Promise(resolve => wx.chooseMedia({
        count: 1,
        mediaType: ['image'],
        sourceType: ['camera', 'album'],
        sizeType: ['original'],
        success: ({tempFiles}) => resolve(this.uploadFacadePhoto(tempFiles[0].tempFilePath)),
        fail: () => resolve(null),
      }))
    },

    uploadFacadePhoto(path) {
      this.setData({facadePhoto: path, busy: true, uploadProgress: 0})
      return api.upload(path, {onProgress: uploadProgress => this.setData({uploadProgress})})
        .then(media => {
          this.setData({'form.facade_photo_media_id': media.id, busy: false})
          return media
        })
        .catch(() => {
          this.setData({facadePhoto: '', busy: false})
          return null
        })
    },

    body() {
      const form = this.data.form
      const body = {coord_type: this.data.coordType}
      Object.keys(form).forEach(key => {
        if (DECIMAL_FIELDS.indexOf(key) >= 0) body[key] = numberOf(form[key], Number.parseFloat)
        else if (WHOLE_FIELDS.indexOf(key) >= 0) body[key] = numberOf(form[key], text => Number.parseInt(text, 10))
        else body[key] = form[key]
      })
      return body
    },

    // ``method`` ``path`` with the form; a validation error is shown field by field and marks them on the form.
    send(method, path) {
      this.setData({busy: true, invalid: {}})
      return api.request(method, path, {data: this.body(), handled: ['validation_error']})
        .then(answer => {
          this.setData({busy: false, checks: answer.checks})
          return answer
        })
        .catch(error => {
          const invalid = {}
          Object.keys(fields.messagesByField(error.details)).forEach(field => { invalid[field] = true })
          if (error.code === 'validation_error') fields.show(error, LABELS)
          this.setData({busy: false, invalid})
          return null
        })
    },

    check() {
      return this.send('POST', '/api/v1/signboard-applications/check')
    },

    submit() {
      const sent = this.applicationId
        ? this.send('PUT', `/api/v1/signboard-applications/${this.applicationId}`)
        : this.send('POST', '/api/v1/signboard-applications')
      return sent.then(application => {
        if (application) wx.redirectTo({url: `/pages/signboard/application?id=${application.id}`})
        return application
      })
    },
  },
})
