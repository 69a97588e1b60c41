// The client core every page goes through (miniprogram/utils/api.js): sign-in, the token's renewal, and errors
// told to the resident in Chinese from the backend's error shape.
const api = require('../../../miniprogram/utils/api')
const network = require('../harness/network')
const {device, shown, wx: harnessWx} = require('../harness/wx')

function callsMade() {
  return network.calls.map(call => `${call.method} ${call.path} ${call.status}`)
}

test('the first call signs in with wx.login, and the token is kept for the next', async () => {
  const me = await api.request('GET', '/api/v1/me')
  const again = await api.request('GET', '/api/v1/me')
  expect(again.id).toBe(me.id)
  expect(device.loginCount).toBe(1)
  expect(callsMade()).toEqual(['POST /api/v1/auth/wechat 200', 'GET /api/v1/me 200', 'GET /api/v1/me 200'])
})

test('calls made at once share one sign-in', async () => {
  const answers = await Promise.all([api.request('GET', '/api/v1/me'), api.request('GET', '/api/v1/categories')])
  expect(answers[0].id).toBeGreaterThan(0)
  expect(device.loginCount).toBe(1)
})

test('a token about to end is renewed before use, one refused is renewed and the call made again', async () => {
  const me = await api.request('GET', '/api/v1/me')
  const session = harnessWx.getStorageSync('residentSession')
  harnessWx.setStorageSync('residentSession', {...session, expiresAt: Date.now() + 30 * 1000})
  expect((await api.request('GET', '/api/v1/me')).id).toBe(me.id)
  expect(device.loginCount).toBe(2)

  harnessWx.setStorageSync('residentSession', {token: 'not-a-token-we-issued', expiresAt: Date.now() + 3600 * 1000})
  network.reset()
  expect((await api.request('GET', '/api/v1/me')).id).toBe(me.id)
  expect(callsMade()).toEqual(['GET /api/v1/me 401', 'POST /api/v1/auth/wechat 200', 'GET /api/v1/me 200'])
  expect(shown.told).toEqual([])
})

test("the backend's Chinese message is what the resident reads, with the fields it concerns", async () => {
  const refused = await api.request('POST', '/api/v1/reports', {idempotencyKey: api.newIdempotencyKey(),
    data: {category_code: 'S0102', description: '   ', location: {lat: 36.06, lng: 120.38, coord_type: 'gcj02'},
      media_ids: [1]}}).catch(error => error)
  expect(refused).toMatchObject({status: 422})
  expect(shown.told).toHaveLength(1)
  expect(shown.told[0]).toBe(api.describeError(refused))
  expect(shown.told[0]).toMatch(/[\u4e00-\u9fff]/)
  expect(shown.told[0]).toContain('问题描述')

  const missing = await api.request('GET', '/api/v1/reports/999999').catch(error => error)
  expect(missing).toMatchObject({status: 404})
  expect(shown.told[1]).toBe(missing.message)
  expect(shown.told[1]).toMatch(/[\u4e00-\u9fff]/)
})

test('an error the caller handles itself is not shown twice', async () => {
  const missing = await api.request('GET', '/api/v1/reports/999999', {handled: ['not_found']}).catch(error => error)
  expect(missing.code).toBe('not_found')
  expect(shown.told).toEqual([])
})

test('an unreachable server is told as a network failure', async () => {
  harnessWx.setStorageSync('apiBaseUrl', 'http://127.0.0.1:9')
  const failed = await api.request('GET', '/api/v1/categories', {auth: false}).catch(error => error)
  expect(failed).toMatchObject({status: 0, code: 'network_error'})
  expect(shown.told).toEqual(['网络连接失败，请检查网络后重试。'])
})

test('in development a stored openid signs in through the dev login instead of wx.login', async () => {
  harnessWx.setStorageSync('devOpenid', `${device.openid}-dev`)
  const me = await api.request('GET', '/api/v1/me')
  expect(me.id).toBeGreaterThan(0)
  expect(device.loginCount).toBe(0)
  expect(callsMade()).toEqual(['POST /api/v1/auth/dev 200', 'GET /api/v1/me 200'])
})
