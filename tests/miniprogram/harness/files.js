// The phone's temporary files: pickers, the recorder and downloads hand out `wxfile://tmp_…` paths as WeChat does,
// each standing for a real file on this machine, so that a page passes on the path it was given and nothing else.
const fs = require('fs')
const os = require('os')
const path = require('path')

const byTempPath = new Map()
let directory = null
let counter = 0

function register(realPath) {
  if (!fs.existsSync(realPath)) throw new Error(`no such file for the device: ${realPath}`)
  counter += 1
  const tempPath = `wxfile://tmp_${counter}_${path.basename(realPath)}`
  byTempPath.set(tempPath, realPath)
  return tempPath
}

function store(bytes, extension) {
  if (!directory) directory = fs.mkdtempSync(path.join(os.tmpdir(), 'miniprogram-downloads-'))
  counter += 1
  const realPath = path.join(directory, `download_${counter}${extension}`)
  fs.writeFileSync(realPath, bytes)
  return register(realPath)
}

function realPath(tempPath) {
  const found = byTempPath.get(tempPath)
  if (!found) throw new Error(`${tempPath} is not a temporary file the device handed out`)
  return found
}

function size(tempPath) {
  return fs.statSync(realPath(tempPath)).size
}

module.exports = {register, store, realPath, size}
