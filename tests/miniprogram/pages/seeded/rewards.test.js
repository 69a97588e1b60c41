// 有奖随手拍: the campaign's rules, my rewards in their states (one refused, with why), a claim up to WeChat's
// transfer confirmation with the package the API returns (closed once by the resident, then confirmed), and a
// claim whose transfer is still being prepared.
const fixtures = require('../../harness/fixtures')
const network = require('../../harness/network')
const {device, shown} = require('../../harness/wx')
const {signInAs} = require('./resident')
const {openPage, waitFor, tap, text} = require('../../harness/pages')

const seeded = fixtures.rewards

test('a reward claimed up to the transfer confirmation', async () => {
  signInAs(seeded.openid)
  device.transferAnswer = 'cancel'

  const page = openPage('pages/rewards/index')
  await waitFor(() => page.instance.data.totals && page.instance.data.campaign, 'the campaign and my rewards')
  expect(page.instance.data.campaign.rules.length).toBeGreaterThan(0)
  expect(page.instance.data.totals).toEqual({earned: '13.32', paid: '0.00', owed: '13.32'})
  expect(text(page, `#reward-${seeded.refusedId} .state`)).toBe('不予奖励')
  expect(text(page, `#reward-${seeded.refusedId} .explanation`)).toBe('您的反映未被受理，不发放奖励。')
  expect(page.querySelector(`#claim-${seeded.refusedId}`)).toBeFalsy()
  expect(text(page, `#reward-${seeded.claimableId} .state`)).toBe('转账中')
  expect(text(page, `#reward-${seeded.claimableId} .title`)).toBe('¥6.66')

  // Closed without confirming: nothing is lost, the reward can be claimed again.
  await tap(page, `#claim-${seeded.claimableId}`)
  await waitFor(() => page.instance.data.outcome, 'the transfer page closed')
  expect(page.instance.data.outcome).toBe('您取消了收款，可随时再次领取。')

  device.transferAnswer = 'ok'
  await tap(page, `#claim-${seeded.claimableId}`)
  await waitFor(() => shown.transfers.length === 2 && page.instance.data.claimingId === null, 'the transfer confirmed')
  expect(shown.transfers[1]).toEqual({mchId: '1900000109', appId: 'wx_test_app_id', package: seeded.packageInfo,
    success: expect.any(Function), fail: expect.any(Function)})
  expect(page.instance.data.outcome).toBe('已确认收款，到账后这里会显示“已到账”。')
  // WeChat Pay says it is paid by its notification, not the confirmation page: still 转账中 until then.
  await waitFor(() => network.calls.filter(call => call.path === '/api/v1/rewards/mine').length === 3, 'read again')
  expect(text(page, `#reward-${seeded.claimableId} .state`)).toBe('转账中')
  expect(network.calls.filter(call => call.path === `/api/v1/rewards/${seeded.claimableId}/claim`)
    .map(call => call.status)).toEqual([200, 200])
})

test('a reward whose transfer is still being prepared is asked for again, then left for later', async () => {
  signInAs(seeded.openid)
  const page = openPage('pages/rewards/index')
  await waitFor(() => page.instance.data.totals, 'my rewards')
  await tap(page, `#claim-${seeded.processingId}`)
  await waitFor(() => page.instance.data.outcome, 'the claim answered')
  expect(page.instance.data.outcome).toBe('转账正在准备中，请稍后再来领取。')
  expect(shown.transfers).toEqual([])
  expect(network.calls.filter(call => call.path === `/api/v1/rewards/${seeded.processingId}/claim`)
    .map(call => call.status)).toEqual([200, 200, 200, 200, 200])
})
