// wx.request, wx.uploadFile and wx.downloadFile as real HTTP calls to the app the test run serves, as WeChat makes
// them: JSON bodies, GET data as the query string, uploads as multipart with the file's bytes streamed, progress
// reported while they leave. Every call is logged (method, path, status) for the check against the OpenAPI document.
const fs = require('fs')
const http = require('http')
const https = require('https')
const path = require('path')

const files = require('./files')

const CALL_LOG = process.env.MINIPROGRAM_CALL_LOG
const TIMEOUT_MS = 120 * 1000
// Answers to drop after the server has sent them (the phone lost its connection): {method, path} each, once.
const lostAnswers = []
const calls = []
// Each upload: the temporary path sent, its bytes, the progress percentages reported while it left.
const uploads = []

const CONTENT_TYPES = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.heic': 'image/heic',
  '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.aac': 'audio/aac', '.m4a': 'audio/mp4', '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav', '.pdf': 'application/pdf',
}

function record(method, url, statusCode) {
  const {pathname} = new URL(url)
  const call = {method, path: pathname, status: statusCode}
  calls.push(call)
  if (CALL_LOG) fs.appendFileSync(CALL_LOG, `${JSON.stringify({...call, test: expect.getState().currentTestName})}\n`)
}

function loseNextAnswer(method, pathname) {
  lostAnswers.push({method, path: pathname})
}

function answerLost(method, url) {
  const {pathname} = new URL(url)
  const index = lostAnswers.findIndex(lost => lost.method === method && lost.path === pathname)
  if (index < 0) return false
  lostAnswers.splice(index, 1)
  return true
}

function queryOf(data) {
  if (!data || typeof data !== 'object') return ''
  return Object.keys(data).map(key => `${encodeURIComponent(key)}=${encodeURIComponent(data[key])}`).join('&')
}

function headerValue(header, name) {
  const key = Object.keys(header || {}).find(each => each.toLowerCase() === name)
  return key ? header[key] : undefined
}

// One HTTP exchange: ``writeBody(request)`` sends the body and ends it; resolves {statusCode, header, body Buffer}.
function exchange(method, url, header, writeBody) {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const transport = target.protocol === 'https:' ? https : http
    const outgoing = transport.request(target, {method, headers: header, timeout: TIMEOUT_MS}, incoming => {
      const chunks = []
      incoming.on('data', chunk => chunks.push(chunk))
      incoming.on('end', () => resolve({statusCode: incoming.statusCode, header: incoming.headers,
        body: Buffer.concat(chunks)}))
      incoming.on('error', reject)
    })
    outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')))
    outgoing.on('error', reject)
    writeBody(outgoing)
  })
}

class Task {
  constructor() {
    this.progressListeners = []
  }

  onProgressUpdate(listener) {
    this.progressListeners.push(listener)
  }

  offProgressUpdate(listener) {
    this.progressListeners = this.progressListeners.filter(each => each !== listener)
  }

  abort() {
    this.aborted = true
  }

  onHeadersReceived() {}

  offHeadersReceived() {}
}

// success/fail/complete as WeChat calls them: success for any HTTP status, fail only when no answer came.
function settle(options, api, promise) {
  promise.then(result => {
    if (options.success) options.success(result)
    if (options.complete) options.complete(result)
  }, error => {
    const result = {errMsg: `${api}:fail ${error.message}`, errno: 600001}
    if (options.fail) options.fail(result)
    if (options.complete) options.complete(result)
  })
}

async function answered(api, method, url, header, writeBody) {
  const answer = await exchange(method, url, header, writeBody)
  record(method, url, answer.statusCode)
  if (answerLost(method, url)) throw new Error('timeout')
  return answer
}

function request(options) {
  const method = (options.method || 'GET').toUpperCase()
  const header = {...(options.header || {})}
  let url = options.url
  let body = null
  if (method === 'GET' || method === 'DELETE') {
    const query = queryOf(options.data)
    if (query) url += (url.includes('?') ? '&' : '?') + query
  } else if (options.data !== undefined) {
    const json = String(headerValue(header, 'content-type') || 'application/json').includes('json')
    body = Buffer.from(typeof options.data === 'string' || !json ? String(options.data) : JSON.stringify(options.data))
    if (!headerValue(header, 'content-type')) header['content-type'] = 'application/json'
    header['content-length'] = body.length
  }
  const task = new Task()
  settle(options, 'request', answered('request', method, url, header, outgoing => outgoing.end(body || undefined))
    .then(({statusCode, header: answerHeader, body: bytes}) => {
      let data = bytes.toString('utf8')
      if ((options.dataType || 'json') === 'json') {
        try {
          data = JSON.parse(data)
        } catch (notJson) {
          // WeChat hands the text over as it is.
        }
      }
      return {errMsg: 'request:ok', statusCode, header: answerHeader, data, cookies: []}
    }))
  return task
}

function uploadFile(options) {
  const source = files.realPath(options.filePath)
  const boundary = `----WeChatFormBoundary${Math.random().toString(36).slice(2)}`
  const fields = Object.entries(options.formData || {}).map(([name, value]) => `--${boundary}\r\n`
    + `Content-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join('')
  const extension = path.extname(options.filePath).toLowerCase()
  const head = Buffer.from(`${fields}--${boundary}\r\nContent-Disposition: form-data; name="${options.name}"; `
    + `filename="${path.basename(options.filePath)}"\r\n`
    + `Content-Type: ${CONTENT_TYPES[extension] || 'application/octet-stream'}\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const size = fs.statSync(source).size
  const total = head.length + size + tail.length
  const header = {...(options.header || {}), 'content-type': `multipart/form-data; boundary=${boundary}`,
    'content-length': total}
  const task = new Task()
  const upload = {filePath: options.filePath, bytes: size, progress: []}
  uploads.push(upload)
  let sent = 0
  const progressed = bytes => {
    sent += bytes
    const percent = Math.floor((sent * 100) / total)
    if (percent === upload.progress[upload.progress.length - 1]) return
    upload.progress.push(percent)
    task.progressListeners.forEach(listener => listener({progress: percent, totalBytesSent: sent,
      totalBytesExpectedToSend: total}))
  }
  const writeBody = outgoing => {
    outgoing.write(head)
    progressed(head.length)
    const stream = fs.createReadStream(source, {highWaterMark: 256 * 1024})
    stream.on('data', chunk => {
      if (!outgoing.write(chunk)) {
        stream.pause()
        outgoing.once('drain', () => stream.resume())
      }
      progressed(chunk.length)
    })
    stream.on('end', () => {
      outgoing.end(tail)
      progressed(tail.length)
    })
    stream.on('error', error => outgoing.destroy(error))
  }
  settle(options, 'uploadFile', answered('uploadFile', 'POST', options.url, header, writeBody)
    .then(({statusCode, body}) => ({errMsg: 'uploadFile:ok', statusCode, data: body.toString('utf8')})))
  return task
}

function downloadFile(options) {
  const task = new Task()
  settle(options, 'downloadFile', answered('downloadFile', 'GET', options.url, options.header || {},
    outgoing => outgoing.end())
    .then(({statusCode, header, body}) => {
      const extension = path.extname(new URL(options.url).pathname) || ''
      const tempFilePath = files.store(body, extension, header['content-type'])
      return {errMsg: 'downloadFile:ok', statusCode, tempFilePath}
    }))
  return task
}

function reset() {
  calls.length = 0
  uploads.length = 0
  lostAnswers.length = 0
}

module.exports = {reset, request, uploadFile, downloadFile, loseNextAnswer, calls, uploads}
