// Pages rendered under Node by miniprogram-simulate (official WXML compiler), and the resident's gestures on them.
const path = require('path')
const simulate = require('miniprogram-simulate')

const {device, shown} = require('./wx')
const fakeMap = require('./map')

const MINIPROGRAM_ROOT = path.resolve(__dirname, '../../../miniprogram')
const WAIT_SECONDS = 120

function macrotask() {
  return new Promise(resolve => setTimeout(resolve, 0))
}

// Each page's definition is loaded once per test file: jest keeps the modules it required, so a second load would
// not run the page's Component() again.
const loaded = new Map()

/** The page at ``route`` ("pages/report/new") rendered, with onLoad(query) and onShow called as WeChat would. */
function openPage(route, query = {}) {
  if (!loaded.has(route)) {
    loaded.set(route, simulate.load(path.join(MINIPROGRAM_ROOT, route), {rootPath: MINIPROGRAM_ROOT,
      usingComponents: {map: fakeMap}}))
  }
  const page = simulate.render(loaded.get(route))
  page.attach(document.createElement('parent-wrapper'))
  const stringQuery = Object.fromEntries(Object.entries(query).map(([key, value]) => [key, String(value)]))
  if (page.instance.onLoad) page.instance.onLoad(stringQuery)
  if (page.instance.onShow) page.instance.onShow()
  return page
}

/** The page the last navigation went to, opened with its query. */
function followNavigation() {
  const last = shown.navigations[shown.navigations.length - 1]
  if (!last || !last.url) throw new Error('the page navigated nowhere')
  const [route, query = ''] = last.url.replace(/^\//, '').split('?')
  return openPage(route, Object.fromEntries(new URLSearchParams(query)))
}

/** Waits until ``check()`` is truthy (the page's calls are real HTTP: no fixed delay would do), and returns it. */
async function waitFor(check, what) {
  const deadline = Date.now() + WAIT_SECONDS * 1000
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${WAIT_SECONDS} s`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function find(page, selector) {
  const found = page.querySelector(selector)
  if (!found) throw new Error(`nothing matches ${selector} on the page`)
  return found
}

/** The resident taps ``selector``: WeChat's dialogs that need a tap may open from its handler. */
async function tap(page, selector) {
  const target = find(page, selector)
  device.inTapGesture = true
  target.dispatchEvent('tap')
  await macrotask()
  device.inTapGesture = false
}

/** A component's own event (a picker's change, a textarea's input) with its ``detail``. */
async function trigger(page, selector, eventName, detail) {
  find(page, selector).dispatchEvent(eventName, {detail})
  await macrotask()
}

/** The resident drags the map ``selector`` until ``point`` (GCJ-02) is at its centre. */
async function drag(page, selector, point) {
  find(page, selector).instance.drag(point)
  await macrotask()
}

/** Where the map ``selector`` is centred now (GCJ-02), as the resident sees it. */
function mapCentre(page, selector) {
  return {...find(page, selector).instance.centre}
}

function text(page, selector) {
  const found = page.querySelector(selector)
  return found ? found.dom.textContent.replace(/\s+/g, ' ').trim() : ''
}

function texts(page, selector) {
  return page.querySelectorAll(selector).map(each => each.dom.textContent.replace(/\s+/g, ' ').trim())
}

module.exports = {openPage, followNavigation, waitFor, tap, trigger, drag, mapCentre, text, texts, find,
  MINIPROGRAM_ROOT}
