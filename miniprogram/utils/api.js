// The one way pages reach the backend: sign-in, the resident's token, JSON calls, uploads and downloads, each
// returning a promise, and every failure shown to the resident in Chinese. The backend answers every error as
// {"error": {"code", "message", "details"}} with a Chinese message; this module shows that message as it is.
const config = require('../config')

const SESSION_STORAGE_KEY = 'residentSession'
// A token this close to its end is renewed before use rather than sent to be refused.
const RENEW_BEFORE_MS = 60 * 1000
// What the backend answers for a token that is missing, expired or no longer valid: sign in again and retry once.
const SIGN_IN_AGAIN_CODES = ['missing_token', 'token_expired', 'invalid_token']
const NETWORK_FAILURE_MESSAGE = '网络连接失败，请检查网络后重试。'
// A toast shows about two short lines; longer messages go to a modal, read in full.
const TOAST_MAX_CHARS = 14
// The names of the fields residents fill in, for the backend's field errors (details.fields).
const FIELD_LABELS = {
  category_code: '问题类别',
  description: '问题描述',
  location: '位置',
  address: '地址',
  media_ids: '照片、视频或语音',
  text: '内容',
  reason: '理由',
  rating: '评分',
  comment: '评价',
  file: '文件',
}

class ApiError extends Error {
  constructor({status, code, message, details}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details || {}
  }
}

function messageForStatus(status) {
  if (status === 413) return '文件太大，无法上传。'
  if (status === 429) return '操作太频繁，请稍后再试。'
  if (status >= 500) return '服务暂时不可用，请稍后再试。'
  return `请求失败（${status}）。`
}

// Our error shape when the answer has it; a proxy's HTML page or an empty body gets a message from its status.
function errorFromAnswer(status, body) {
  let parsed = body
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body)
    } catch (notJson) {
      parsed = null
    }
  }
  const error = parsed && typeof parsed === 'object' ? parsed.error : null
  if (error && typeof error.message === 'string' && error.message) {
    return new ApiError({status, code: error.code, message: error.message, details: error.details})
  }
  return new ApiError({status, code: `http_${status}`, message: messageForStatus(status)})
}

function networkError(errMsg) {
  return new ApiError({status: 0, code: 'network_error', message: NETWORK_FAILURE_MESSAGE, details: {errMsg}})
}

// Where a request's fields were read: schema errors come keyed by it ({"json": {"description": [...]}}), errors
// of the backend's own checks by the field alone ({"media_ids": [...]}).
const REQUEST_PARTS = ['json', 'query', 'headers', 'form', 'files', 'path']

function fieldsOf(error) {
  const given = (error.details && error.details.fields) || {}
  const names = []
  Object.keys(given).forEach(key => {
    const nested = REQUEST_PARTS.indexOf(key) >= 0 && given[key] && !Array.isArray(given[key])
    const inside = nested ? Object.keys(given[key]) : [key]
    inside.forEach(name => {
      if (names.indexOf(name) < 0) names.push(name)
    })
  })
  return names
}

// The message with the fields it concerns, named as the form names them.
function describeError(error) {
  const fields = fieldsOf(error)
  if (!fields.length) return error.message
  const names = fields.map(field => FIELD_LABELS[field] || field)
  return `${error.message}（${names.join('、')}）`
}

function showError(error) {
  const text = describeError(error)
  if (text.length <= TOAST_MAX_CHARS) {
    wx.showToast({title: text, icon: 'none', duration: 2500})
  } else {
    wx.showModal({title: '提示', content: text, showCancel: false, confirmText: '知道了'})
  }
}

// A fresh key for one report (or any call that must not happen twice): the backend takes 8–64 of [A-Za-z0-9_.:-].
function newIdempotencyKey() {
  const random = Array.from({length: 4}, () => Math.random().toString(36).slice(2, 8)).join('')
  return `mp-${Date.now().toString(36)}-${random}`
}

function queryString(query) {
  const pairs = Object.keys(query || {})
    .filter(key => query[key] !== undefined && query[key] !== null && query[key] !== '')
    .map(key => `${encodeURIComponent(key)}=${encodeURIComponent(query[key])}`)
  return pairs.length ? `?${pairs.join('&')}` : ''
}

function login() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: ({code}) => resolve(code),
      fail: ({errMsg}) => reject(new ApiError({status: 0, code: 'wechat_login_failed',
        message: '微信登录失败，请稍后再试。', details: {errMsg}})),
    })
  })
}

function send({method, path, query, data, header}) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.baseUrl() + path + queryString(query),
      method,
      data,
      header: Object.assign({'content-type': 'application/json'}, header),
      dataType: 'json',
      success: ({statusCode, data: body, header: answerHeader}) => {
        if (statusCode >= 200 && statusCode < 300) resolve({status: statusCode, data: body, header: answerHeader})
        else reject(errorFromAnswer(statusCode, body))
      },
      fail: ({errMsg}) => reject(networkError(errMsg)),
    })
  })
}

let signingIn = null

// wx.login's code exchanged for our token (or, in development, the stored dev openid signed in: config.js), kept
// in storage with its end; concurrent callers share one sign-in.
function exchange() {
  const openid = config.devOpenid()
  if (openid) return send({method: 'POST', path: '/api/v1/auth/dev', data: {openid}})
  return login().then(code => send({method: 'POST', path: '/api/v1/auth/wechat', data: {code}}))
}

function signIn() {
  if (!signingIn) {
    signingIn = exchange()
      .then(({data}) => {
        wx.setStorageSync(SESSION_STORAGE_KEY, {token: data.token, expiresAt: Date.parse(data.expires_at)})
        return data.token
      })
      .then(token => {
        signingIn = null
        return token
      }, error => {
        signingIn = null
        throw error
      })
  }
  return signingIn
}

function currentToken() {
  const session = wx.getStorageSync(SESSION_STORAGE_KEY)
  if (session && session.token && session.expiresAt - RENEW_BEFORE_MS > Date.now()) return Promise.resolve(session.token)
  return signIn()
}

function signOut() {
  wx.removeStorageSync(SESSION_STORAGE_KEY)
}

// ``call(authorizationHeader)`` with the resident's token; once more with a new one when the backend refuses it.
function withToken(call) {
  return currentToken()
    .then(token => call({Authorization: `Bearer ${token}`}))
    .catch(error => {
      if (error.status !== 401 || SIGN_IN_AGAIN_CODES.indexOf(error.code) < 0) throw error
      signOut()
      return signIn().then(token => call({Authorization: `Bearer ${token}`}))
    })
}

// Shows the error unless the caller handles its code itself (``handled``), and passes it on either way.
function shown(promise, handled) {
  return promise.catch(error => {
    if (!handled || handled.indexOf(error.code) < 0) showError(error)
    throw error
  })
}

/**
 * A JSON call: resolves with the answer's body (null for 204), rejects with an ApiError already shown.
 * options: query (object), data (JSON body), idempotencyKey, auth (default true), handled (error codes the caller
 * shows itself), withHeaders (resolve with {data, header, status} instead).
 */
function request(method, path, options = {}) {
  const {query, data, idempotencyKey, auth = true, handled, withHeaders = false} = options
  const header = idempotencyKey ? {'Idempotency-Key': idempotencyKey} : {}
  const call = extra => send({method, path, query, data, header: Object.assign({}, header, extra)})
  const answered = (auth ? withToken(call) : call({})).then(answer => {
    const body = answer.status === 204 ? null : answer.data
    return withHeaders ? Object.assign({}, answer, {data: body}) : body
  })
  return shown(answered, handled)
}

/**
 * A photo, video or voice note from the device (a temporary path from wx.chooseMedia or the recorder) sent as
 * wx.uploadFile sends it, multipart field `file`; ``onProgress(percent)`` follows it. Resolves with the media.
 */
function upload(filePath, {onProgress, handled} = {}) {
  const call = header => new Promise((resolve, reject) => {
    const task = wx.uploadFile({
      url: `${config.baseUrl()}/api/v1/media`,
      filePath,
      name: 'file',
      header,
      success: ({statusCode, data}) => {
        if (statusCode >= 200 && statusCode < 300) resolve(typeof data === 'string' ? JSON.parse(data) : data)
        else reject(errorFromAnswer(statusCode, data))
      },
      fail: ({errMsg}) => reject(networkError(errMsg)),
    })
    if (onProgress && task) task.onProgressUpdate(({progress}) => onProgress(progress))
  })
  return shown(withToken(call), handled)
}

/** A file behind a link (a signed media link, a certificate PDF) to a temporary path on the device. */
function download(url, {auth = false} = {}) {
  const call = header => new Promise((resolve, reject) => {
    wx.downloadFile({
      url,
      header,
      success: ({statusCode, tempFilePath}) => {
        if (statusCode >= 200 && statusCode < 300) resolve(tempFilePath)
        else reject(errorFromAnswer(statusCode, null))
      },
      fail: ({errMsg}) => reject(networkError(errMsg)),
    })
  })
  return shown(auth ? withToken(call) : call({}))
}

function askWeChat(tmplIds) {
  return new Promise(resolve => {
    wx.requestSubscribeMessage({tmplIds, success: resolve, fail: () => resolve(null)})
  })
}

/**
 * Asks the resident to allow the status messages the backend publishes, and passes WeChat's answer on as received.
 * WeChat shows the dialog only from a tap: call this synchronously in the tap handler, with the template ids
 * fetched before (``statusMessageTemplates``). Resolves with the backend's answer, or null when nothing was asked
 * or the resident closed the dialog.
 */
function subscribeToStatusMessages(templateIds) {
  if (!templateIds || !templateIds.length) return Promise.resolve(null)
  return askWeChat(templateIds).then(answer => (answer
    ? request('POST', '/api/v1/notifications/subscriptions', {data: answer})
    : null))
}

function statusMessageTemplates() {
  return request('GET', '/api/v1/notifications/subscriptions').then(({template_ids: ids}) => ids)
}

module.exports = {
  ApiError,
  describeError,
  showError,
  newIdempotencyKey,
  signIn,
  signOut,
  request,
  upload,
  download,
  statusMessageTemplates,
  subscribeToStatusMessages,
}
