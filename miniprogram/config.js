// Where the backend is. A build for the city sets DEFAULT_BASE_URL to its HTTPS origin (a domain listed under
// 开发管理 → 服务器域名 in the mini-program console); a developer points a build at another server without
// editing this file by storing `apiBaseUrl` (the DevTools' Storage panel, or wx.setStorageSync in its console).
const DEFAULT_BASE_URL = 'http://127.0.0.1:5000'
const BASE_URL_STORAGE_KEY = 'apiBaseUrl'

function baseUrl() {
  const stored = wx.getStorageSync(BASE_URL_STORAGE_KEY)
  return String(stored || DEFAULT_BASE_URL).replace(/\/+$/, '')
}

module.exports = {DEFAULT_BASE_URL, BASE_URL_STORAGE_KEY, baseUrl}
