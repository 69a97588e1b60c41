// Where the backend is. A build for the city sets DEFAULT_BASE_URL to its HTTPS origin (a domain listed under
// 开发管理 → 服务器域名 in the mini-program console); a developer points a build at another server without
// editing this file by storing `apiBaseUrl` (the DevTools' Storage panel, or wx.setStorageSync in its console).
const DEFAULT_BASE_URL = 'http://127.0.0.1:5000'
const BASE_URL_STORAGE_KEY = 'apiBaseUrl'
// Development only: an openid stored under this key signs in through the backend's POST /api/v1/auth/dev instead of
// wx.login (a DevTools project on the placeholder appid gets codes no server can exchange). Production servers
// refuse that endpoint, so a build carrying the key by mistake signs nobody in.
const DEV_OPENID_STORAGE_KEY = 'devOpenid'

function baseUrl() {
  const stored = wx.getStorageSync(BASE_URL_STORAGE_KEY)
  return String(stored || DEFAULT_BASE_URL).replace(/\/+$/, '')
}

function devOpenid() {
  return wx.getStorageSync(DEV_OPENID_STORAGE_KEY) || ''
}

module.exports = {DEFAULT_BASE_URL, BASE_URL_STORAGE_KEY, DEV_OPENID_STORAGE_KEY, baseUrl, devOpenid}
