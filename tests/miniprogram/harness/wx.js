// The `wx` global the pages run against. Network calls are real (./network.js); the device is the only fake: its
// position, the places its map picker offers, its maps (./map.js), the photos and videos its pickers hand out, what
// its recorder records, what the resident answers in WeChat's dialogs. Anything else a page reaches for fails the
// test: an API the harness lacks is added here, as a real call or a device fake, never answered silently.
const fs = require('fs')

const files = require('./files')
const network = require('./network')

const LOGIN_CODE_PREFIX = process.env.MINIPROGRAM_LOGIN_CODE_PREFIX || 'device:'

// What the device knows and the resident will answer; each test sets what its flow needs (reset before each).
const device = {}
// What the pages showed and did: toasts, modals, navigation, subscription dialogs, transfers, previews; `told` is
// every message the resident read, toast or modal.
const shown = {}

function resetDevice({openid}) {
  Object.assign(device, {
    openid,
    loginCount: 0,
    location: null, // {latitude, longitude} in GCJ-02, as WeChat gives it for type 'gcj02'
    places: [], // what wx.chooseLocation answers, one each call: {name, address, latitude, longitude}
    media: [], // what wx.chooseMedia answers, one list each call: [{path, fileType: 'image'|'video', duration}]
    recording: null, // the recorder's next file: {path, duration}
    subscribeAnswer: 'accept', // each template's answer in wx.requestSubscribeMessage
    modalConfirms: true,
    transferAnswer: 'ok', // wx.requestMerchantTransfer: 'ok', 'cancel' or 'fail'
    inTapGesture: false,
    storage: new Map(),
  })
  for (const key of ['told', 'toasts', 'modals', 'navigations', 'subscribeRequests', 'transfers', 'previews',
    'openedLocations', 'openedDocuments']) shown[key] = []
}

function later(result) {
  return new Promise(resolve => setTimeout(() => resolve(result), 0))
}

// A device API as WeChat offers it: ``impl`` runs at the call (a toast shows at once, a dialog sees the tap it was
// called in) and answers or throws an errMsg; callbacks get the answer a moment later when given, else a promise.
function deviceApi(name, impl) {
  return (options = {}) => {
    let outcome
    try {
      outcome = {ok: true, result: {errMsg: `${name}:ok`, ...impl(options)}}
    } catch (error) {
      outcome = {ok: false, result: {errMsg: `${name}:fail ${error.message}`}}
    }
    const delivered = later(outcome)
    if (options.success || options.fail || options.complete) {
      delivered.then(({ok, result}) => {
        const callback = ok ? options.success : options.fail
        if (callback) callback(result)
        if (options.complete) options.complete(result)
      })
      return undefined
    }
    return delivered.then(({ok, result}) => (ok ? result : Promise.reject(result)))
  }
}

class RecorderManager {
  constructor() {
    this.listeners = {start: [], stop: [], error: []}
  }

  onStart(listener) { this.listeners.start.push(listener) }

  onStop(listener) { this.listeners.stop.push(listener) }

  onError(listener) { this.listeners.error.push(listener) }

  start(options = {}) {
    this.options = options
    later().then(() => this.listeners.start.forEach(listener => listener({})))
  }

  stop() {
    later().then(() => {
      if (!device.recording) {
        this.listeners.error.forEach(listener => listener({errMsg: 'operateRecorder:fail recorder not started'}))
        return
      }
      const tempFilePath = files.register(device.recording.path)
      const result = {tempFilePath, duration: device.recording.duration, fileSize: files.size(tempFilePath)}
      this.listeners.stop.forEach(listener => listener(result))
    })
  }
}

let recorderManager = null

// A MapContext as WeChat hands it out: its calls reach the page's <map> (./map.js), found in the page passed, as a
// page made with Component() must pass it. A call the fake lacks fails the test, as wx's own do.
function mapContext(mapId, page) {
  if (!page || !page.selectComponent) {
    throw new Error('wx.createMapContext: pass the page (`this`): a page made with Component() finds its map only so')
  }
  const theMap = () => {
    const found = page.selectComponent(`#${mapId}`)
    if (!found) throw new Error(`no <map id="${mapId}"> on the page`)
    return found
  }
  const context = {
    getCenterLocation: deviceApi('getCenterLocation', () => ({...theMap().centre})),
    // From base library 2.8.0 to the point given; without one, to the device's position (show-location needed).
    moveToLocation: deviceApi('moveToLocation', ({latitude, longitude}) => {
      const map = theMap()
      const given = latitude !== undefined && longitude !== undefined
      if (!given && !map.data.showLocation) throw new Error('show-location is not set on the map')
      if (!given && !device.location) throw new Error('auth deny')
      map.moveTo(given ? {latitude, longitude} : device.location, 'update')
      return {}
    }),
  }
  return new Proxy(context, {
    get(target, name) {
      if (name in target || typeof name === 'symbol') return target[name]
      throw new Error(`MapContext.${String(name)} is not in the test harness: add it to `
        + 'tests/miniprogram/harness/wx.js')
    },
  })
}

const api = {
  request: network.request,
  uploadFile: network.uploadFile,
  downloadFile: network.downloadFile,

  login: deviceApi('login', () => {
    device.loginCount += 1
    return {code: `${LOGIN_CODE_PREFIX}${device.openid}:${device.loginCount}`}
  }),

  getStorageSync: key => (device.storage.has(key) ? JSON.parse(device.storage.get(key)) : ''),
  setStorageSync: (key, value) => { device.storage.set(key, JSON.stringify(value)) },
  removeStorageSync: key => { device.storage.delete(key) },

  getLocation: deviceApi('getLocation', ({type}) => {
    if (type !== 'gcj02') throw new Error('the pages ask for GCJ-02 positions (type: "gcj02"), as maps show them')
    if (!device.location) throw new Error('auth deny')
    return {...device.location, accuracy: 30, speed: -1, altitude: 0}
  }),
  chooseLocation: deviceApi('chooseLocation', () => {
    if (!device.places.length) throw new Error('cancel')
    return device.places.shift()
  }),
  createMapContext: mapContext,
  openLocation: deviceApi('openLocation', options => {
    shown.openedLocations.push(options)
    return {}
  }),

  chooseMedia: deviceApi('chooseMedia', ({count = 9, mediaType = ['image', 'video']}) => {
    const chosen = device.media.shift()
    if (!chosen) throw new Error('cancel')
    if (chosen.length > count) throw new Error(`the page allowed ${count} files, the test chose ${chosen.length}`)
    const refused = chosen.find(item => mediaType.indexOf(item.fileType) < 0 && mediaType.indexOf('mix') < 0)
    if (refused) throw new Error(`the page did not offer ${refused.fileType}`)
    return {
      type: chosen.every(item => item.fileType === 'image') ? 'image' : 'mix',
      tempFiles: chosen.map(item => {
        const tempFilePath = files.register(item.path)
        return {tempFilePath, size: files.size(tempFilePath), fileType: item.fileType, duration: item.duration,
          thumbTempFilePath: item.fileType === 'video' ? tempFilePath : undefined}
      }),
    }
  }),
  getRecorderManager: () => {
    if (!recorderManager) recorderManager = new RecorderManager()
    return recorderManager
  },

  // WeChat shows the subscription dialog only when asked from a tap, synchronously: called after an await, or from
  // onLoad, it fails.
  requestSubscribeMessage: deviceApi('requestSubscribeMessage', ({tmplIds}) => {
    if (!device.inTapGesture) throw new Error('can only be invoked by user TAP gesture.')
    shown.subscribeRequests.push(tmplIds)
    return Object.fromEntries(tmplIds.map(id => [id, device.subscribeAnswer]))
  }),
  requestMerchantTransfer: deviceApi('requestMerchantTransfer', options => {
    shown.transfers.push(options)
    if (device.transferAnswer !== 'ok') throw new Error(device.transferAnswer)
    return {}
  }),

  showToast: deviceApi('showToast', options => {
    shown.toasts.push(options.title)
    shown.told.push(options.title)
    return {}
  }),
  hideToast: deviceApi('hideToast', () => ({})),
  showLoading: deviceApi('showLoading', () => ({})),
  hideLoading: deviceApi('hideLoading', () => ({})),
  showModal: deviceApi('showModal', options => {
    shown.modals.push({title: options.title, content: options.content})
    shown.told.push(options.content)
    return {confirm: device.modalConfirms, cancel: !device.modalConfirms}
  }),

  navigateTo: deviceApi('navigateTo', ({url}) => {
    shown.navigations.push({how: 'navigateTo', url})
    return {}
  }),
  redirectTo: deviceApi('redirectTo', ({url}) => {
    shown.navigations.push({how: 'redirectTo', url})
    return {}
  }),
  navigateBack: deviceApi('navigateBack', ({delta = 1}) => {
    shown.navigations.push({how: 'navigateBack', delta})
    return {}
  }),
  previewImage: deviceApi('previewImage', options => {
    shown.previews.push(options)
    return {}
  }),
  openDocument: deviceApi('openDocument', ({filePath, fileType}) => {
    shown.openedDocuments.push({filePath, fileType, bytes: fs.readFileSync(files.realPath(filePath))})
    return {}
  }),
}


const strictWx = new Proxy(api, {
  get(target, name) {
    if (name in target || typeof name === 'symbol') return target[name]
    throw new Error(`wx.${String(name)} is not in the test harness: add it to tests/miniprogram/harness/wx.js `
      + '(a real call, or a fake of the device)')
  },
})

module.exports = {wx: strictWx, device, shown, resetDevice}
