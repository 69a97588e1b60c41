// One report of mine (or one I follow): its timeline with staff replies and photos, and what the API lets me do
// next: withdraw it before review, answer a request for more information (with photos and a voice note), rate it
// once handled, reopen it once closed. Each action answers the report as it now stands; a refusal is shown by
// utils/api.js in the API's words.
const api = require('../../utils/api')
const withAttachments = require('../../behaviors/attachments')
const {beijingTime} = require('../../utils/format')

const PHOTOS_PER_ANSWER = 9
const AUTHORS = {resident: '我', staff: '工作人员', case_system: '处置部门', system: ''}

function linksOf(media, kind) {
  return media.filter(item => item.kind === kind && item.urls.large).map(item => item.urls)
}

function step(entry, index) {
  return {
    key: index,
    statusName: entry.status_name,
    at: beijingTime(entry.at),
    by: AUTHORS[entry.by] || '',
    mine: entry.by === 'resident',
    note: entry.note,
    photos: linksOf(entry.media, 'photo'),
    videos: linksOf(entry.media, 'video'),
    voices: linksOf(entry.media, 'audio').map(urls => urls.large),
  }
}

function shown(report) {
  const own = report.relation === 'reporter'
  const photos = linksOf(report.media.filter(item => item.purpose === 'evidence'), 'photo')
  return {
    id: report.id,
    relation: report.relation,
    category: report.category.name,
    status: report.status,
    statusName: report.status_name,
    description: report.description,
    address: report.address,
    meTooCount: report.me_too_count,
    createdAt: beijingTime(report.created_at),
    photos,
    photoUrls: photos.map(urls => urls.large),
    // The latest step first, as a conversation is read.
    timeline: report.timeline.map(step).reverse(),
    rejectReason: report.reject_reason,
    rating: report.rating,
    ratingStars: Array.from({length: report.rating || 0}, (_, index) => index + 1),
    ratingComment: report.rating_comment,
    original: report.original && {id: report.original.id, statusName: report.original.status_name},
    canWithdraw: own && report.status === 'pending_review',
    canReply: report.awaiting_information,
    canRate: (report.status === 'resolved' || report.status === 'closed') && report.rating === null,
    canReopen: own && report.status === 'closed',
  }
}

Component({
  // The answer's voice note, recorded here and uploaded at once, as 我拍我城's.
  behaviors: [withAttachments],

  data: {
    report: null, busy: false, uploadProgress: 0,
    stars: [1, 2, 3, 4, 5], rating: 0, ratingComment: '',
    answerText: '', answerPhotos: [], reopenReason: '', reopenPhotos: [],
  },

  methods: {
    onLoad(options) {
      this.reportId = Number(options.id)
      return this.load()
    },

    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },

    onUnload() {
      if (this.voice) this.voice.destroy()
    },

    load() {
      return api.request('GET', `/api/v1/reports/${this.reportId}`)
        .then(report => this.setData({report: shown(report)}))
        .catch(() => {})
    },

    // ``call()`` answers the report; it replaces the one shown. Resolves with it, or null when refused.
    act(call) {
      this.setData({busy: true})
      return call()
        .then(report => {
          this.setData({report: shown(report), busy: false, uploadProgress: 0})
          return report
        })
        .catch(() => {
          this.setData({busy: false, uploadProgress: 0})
          return null
        })
    },

    previewPhoto(event) {
      const {urls, current} = event.currentTarget.dataset
      wx.previewImage({urls, current})
    },

    playVoice(event) {
      if (!this.voice) this.voice = wx.createInnerAudioContext()
      this.voice.src = event.currentTarget.dataset.src
      this.voice.play()
    },

    withdraw() {
      return new Promise(resolve => wx.showModal({
        title: '撤回反映',
        content: '撤回后工作人员将不再处理该反映，确定撤回吗？',
        success: ({confirm}) => resolve(confirm
          ? this.act(() => api.request('POST', `/api/v1/reports/${this.reportId}/withdraw`))
          : null),
        fail: () => resolve(null),
      }))
    },

    chooseStars(event) {
      this.setData({rating: Number(event.currentTarget.dataset.value)})
    },

    typeRatingComment(event) {
      this.setData({ratingComment: event.detail.value})
    },

    submitRating() {
      if (!this.data.rating) {
        wx.showToast({title: '请先选择评分', icon: 'none'})
        return Promise.resolve(null)
      }
      return this.act(() => api.request('POST', `/api/v1/reports/${this.reportId}/rating`,
        {data: {rating: this.data.rating, comment: this.data.ratingComment}}))
    },

    typeAnswer(event) {
      this.setData({answerText: event.detail.value})
    },

    typeReopenReason(event) {
      this.setData({reopenReason: event.detail.value})
    },

    // Photos taken or picked now (originals, as evidence), uploaded when the answer is sent.
    pickPhotos(field) {
      return new Promise(resolve => wx.chooseMedia({
        count: PHOTOS_PER_ANSWER - this.data[field].length,
        mediaType: ['image'],
        sourceType: ['camera', 'album'],
        sizeType: ['original'],
        success: ({tempFiles}) => resolve(this.setData({
          [field]: this.data[field].concat(tempFiles.map(file => file.tempFilePath)),
        })),
        fail: () => resolve(),
      }))
    },

    pickAnswerPhotos() {
      return this.pickPhotos('answerPhotos')
    },

    pickReopenPhotos() {
      return this.pickPhotos('reopenPhotos')
    },

    // Each file through wx.uploadFile in turn, the progress bar covering them all; resolves with their media ids.
    uploadAll(paths) {
      const onProgress = index => percent => this.setData({
        uploadProgress: Math.round((index * 100 + percent) / paths.length),
      })
      return paths.reduce((uploaded, path, index) => uploaded.then(ids => api.upload(path, {onProgress: onProgress(index)})
        .then(media => ids.concat(media.id))), Promise.resolve([]))
    },

    sendAnswer() {
      const unready = this.attachmentsUnready()
      if (unready) {
        wx.showToast({title: unready, icon: 'none'})
        return Promise.resolve(null)
      }
      const voiceIds = this.attachedMediaIds()
      return this.act(() => this.uploadAll(this.data.answerPhotos).then(photoIds => api.request('POST',
        `/api/v1/reports/${this.reportId}/reply`, {data: {text: this.data.answerText,
          media_ids: photoIds.concat(voiceIds)}})))
        .then(report => {
          if (report) this.setData({answerText: '', answerPhotos: [], attachments: []})
          return report
        })
    },

    reopen() {
      return this.act(() => this.uploadAll(this.data.reopenPhotos).then(mediaIds => api.request('POST',
        `/api/v1/reports/${this.reportId}/reopen`, {data: {reason: this.data.reopenReason, media_ids: mediaIds}})))
        .then(report => {
          if (report) this.setData({reopenReason: '', reopenPhotos: []})
          return report
        })
    },

    openOriginal() {
      wx.navigateTo({url: `/pages/report/detail?id=${this.data.report.original.id}`})
    },
  },
})
