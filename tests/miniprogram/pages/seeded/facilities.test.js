// 公厕查询: the toilets nearest to the resident's GCJ-02 position, on the map and in the list, the nearest open one
// found with 只看开放中, navigated to in GCJ-02, and a problem with it reported through 我拍我城, prefilled.
const fixtures = require('../../harness/fixtures')
const network = require('../../harness/network')
const {device, shown} = require('../../harness/wx')
const {openPage, followNavigation, waitFor, tap, trigger, text} = require('../../harness/pages')

const toilets = fixtures.toilets

test('the nearest toilet open now, navigated to and reported', async () => {
  device.location = fixtures.location

  const page = openPage('pages/facilities/index')
  await waitFor(() => page.instance.data.facilities.length && !page.instance.data.loading, 'the nearest toilets')
  expect(page.instance.data.kinds[page.instance.data.kindIndex].name).toBe('公共厕所')
  const [nearest, next] = page.instance.data.facilities
  expect([nearest.id, next.id]).toEqual([toilets.closedId, toilets.openId])
  expect(text(page, `#facility-${toilets.closedId} .closed`)).toBe('未开放')
  expect(text(page, `#facility-${toilets.openId} .distance`)).toBe(`${Math.round(toilets.openDistanceM)} 米`)
  // The markers stand where the API put each toilet in GCJ-02, the map's datum.
  const marker = page.instance.data.markers.find(each => each.id === toilets.openId)
  expect(marker.latitude).toBeCloseTo(toilets.openGcj02.latitude, 6)
  expect(marker.longitude).toBeCloseTo(toilets.openGcj02.longitude, 6)

  await trigger(page, '#open-now', 'change', {value: true})
  await waitFor(() => page.instance.data.facilities[0].id === toilets.openId, 'only the open toilets')
  expect(page.instance.data.facilities.map(each => each.id)).not.toContain(toilets.closedId)
  expect(text(page, `#facility-${toilets.openId} .open`)).toBe('开放中')
  expect(page.instance.data.facilities[0].features).toEqual(['免费', '无障碍', '母婴'])

  await tap(page, `#navigate-${toilets.openId}`)
  await waitFor(() => shown.openedLocations.length, 'the navigation')
  expect(shown.openedLocations[0]).toMatchObject({name: '湛山路公厕', address: '香港中路 1 号'})
  expect(shown.openedLocations[0].latitude).toBeCloseTo(toilets.openGcj02.latitude, 6)
  expect(shown.openedLocations[0].longitude).toBeCloseTo(toilets.openGcj02.longitude, 6)

  await tap(page, `#report-${toilets.openId}`)
  await waitFor(() => shown.navigations.length, 'the report page opened')
  const [route, query] = shown.navigations[0].url.split('?')
  expect(route).toBe('/pages/report/new')
  const prefill = Object.fromEntries(new URLSearchParams(query))
  expect(prefill).toMatchObject({facility_id: String(toilets.openId), category_code: 'B0301', coord_type: 'gcj02',
    address: '香港中路 1 号'})
  expect(Number(prefill.lat)).toBeCloseTo(toilets.openGcj02.latitude, 6)
  expect(Number(prefill.lng)).toBeCloseTo(toilets.openGcj02.longitude, 6)
  // 我拍我城 opens on the toilet's category and place, not the resident's own position.
  const report = followNavigation()
  await waitFor(() => report.instance.data.category, 'the prefilled category')
  expect(report.instance.data.category).toMatchObject({id: 'B0301', name: '公共厕所'})
  expect(report.instance.data.location.latitude).toBeCloseTo(toilets.openGcj02.latitude, 6)
  expect(report.instance.data.location.longitude).toBeCloseTo(toilets.openGcj02.longitude, 6)
  expect(report.instance.data.address).toBe('香港中路 1 号')

  const searches = network.calls.filter(call => call.path === '/api/v1/facilities/nearest')
  expect(searches.map(call => call.status)).toEqual([200, 200])
})
