// The files a resident attaches to what they write (a report, an answer to staff's question): photos and a video from
// the pickers, a voice note recorded here. Each goes up as soon as it is there, its progress shown, and may be
// retried or removed until sending, which names their media ids. A page using it shows ../templates/attachments.wxml
// and hears of every change in its attachmentsChanged().
const api = require('../utils/api')

const RECORDING_MAX_MS = 60 * 1000

// WeChat has one recorder per mini-program, whose listeners cannot be removed: they are set once and reach the
// page currently recording.
let recorder = null
let recordingPage = null

function theRecorder() {
  if (!recorder) {
    recorder = wx.getRecorderManager()
    recorder.onStop(result => recordingPage && recordingPage.onRecorded(result))
    recorder.onError(() => recordingPage && recordingPage.onRecordingFailed())
  }
  return recorder
}

module.exports = Behavior({
  data: {attachments: [], recording: false},

  lifetimes: {
    created() {
      this.attachmentCount = 0
    },

    // A page made with Component() is detached when it unloads.
    detached() {
      if (recordingPage === this) recordingPage = null
    },
  },

  methods: {
    // What the page does when its attachments change (the report's draft changed, say); nothing by default.
    attachmentsChanged() {},

    startRecording() {
      recordingPage = this
      theRecorder().start({duration: RECORDING_MAX_MS, format: 'aac'})
      this.setData({recording: true})
    },

    stopRecording() {
      theRecorder().stop()
    },

    // One voice note at a time: a new recording takes the place of the earlier one.
    onRecorded({tempFilePath}) {
      this.setData({recording: false, attachments: this.data.attachments.filter(item => item.kind !== 'audio')})
      this.attach('audio', tempFilePath)
    },

    onRecordingFailed() {
      this.setData({recording: false})
      wx.showToast({title: '录音失败，请重试', icon: 'none'})
    },

    attach(kind, tempPath) {
      this.attachmentCount += 1
      const key = `a${this.attachmentCount}`
      this.setData({attachments: this.data.attachments.concat([{key, kind, tempPath, progress: 0, mediaId: null,
        failed: false}])})
      this.attachmentsChanged()
      const update = changes => {
        const index = this.data.attachments.findIndex(item => item.key === key)
        if (index < 0) return
        const next = {}
        Object.keys(changes).forEach(field => { next[`attachments[${index}].${field}`] = changes[field] })
        this.setData(next)
      }
      return api.upload(tempPath, {onProgress: progress => update({progress})})
        .then(media => update({mediaId: media.id, progress: 100}), () => update({failed: true}))
    },

    removeAttachment(event) {
      const {key} = event.currentTarget.dataset
      this.setData({attachments: this.data.attachments.filter(item => item.key !== key)})
      this.attachmentsChanged()
    },

    retryAttachment(event) {
      const item = this.data.attachments.find(each => each.key === event.currentTarget.dataset.key)
      this.setData({attachments: this.data.attachments.filter(each => each.key !== item.key)})
      this.attach(item.kind, item.tempPath)
    },

    // Why what is written cannot be sent with its attachments yet, or null.
    attachmentsUnready() {
      const {attachments, recording} = this.data
      if (recording) return '请先停止录音'
      if (attachments.some(item => item.failed)) return '有文件上传失败，请重试或删除'
      if (attachments.some(item => !item.mediaId)) return '请等待文件上传完成'
      return null
    },

    attachedMediaIds() {
      return this.data.attachments.map(item => item.mediaId)
    },
  },
})
