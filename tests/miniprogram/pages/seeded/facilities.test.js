// 公厕查询: the toilets nearest to the resident's GCJ-02 position, on the map and in the list, the nearest open one
// found with 只看开放中, navigated to in GCJ-02, and a problem with it reported through 我拍我城, prefilled; the
// toilets of another part of town found by dragging the map there, and 回到我的位置.
const fixtures = require('../../harness/fixtures')
const network = require('../../harness/network')
const {device, shown} = require('../../harness/wx')
const {openPage, followNavigation, waitFor, tap, trigger, drag, mapCentre, text} = require('../../harness/pages')

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

function searchesMade() {
  return network.calls.filter(call => call.path === '/api/v1/facilities/nearest').map(call => call.status)
}

function listed(page) {
  return page.instance.data.facilities.map(each => each.id)
}

test('dragging the map finds the open toilets around its new centre, and 回到我的位置 comes back', async () => {
  device.location = fixtures.location

  const page = openPage('pages/facilities/index')
  await waitFor(() => page.instance.data.facilities.length && !page.instance.data.loading, 'the nearest toilets')
  expect(listed(page)).toEqual(expect.arrayContaining([toilets.openId, toilets.closedId]))
  expect(listed(page)).not.toContain(toilets.taidongId)
  await trigger(page, '#open-now', 'change', {value: true})
  await waitFor(() => !listed(page).includes(toilets.closedId) && !page.instance.data.loading, 'only the open toilets')
  expect(page.querySelector('#back-to-me')).toBeFalsy()

  // Dragged to Taidong, 3 km off, in two moves searched once: the list and the markers are Taidong's open toilets,
  // and the map stays there.
  await drag(page, '#map', {latitude: (fixtures.location.latitude + toilets.taidongGcj02.latitude) / 2,
    longitude: (fixtures.location.longitude + toilets.taidongGcj02.longitude) / 2})
  await drag(page, '#map', toilets.taidongGcj02)
  await waitFor(() => listed(page)[0] === toilets.taidongId && !page.instance.data.loading, "Taidong's toilets")
  expect(listed(page)).not.toContain(toilets.taidongClosedId)
  expect(listed(page)).not.toContain(toilets.openId)
  expect(page.instance.data.kinds[page.instance.data.kindIndex].name).toBe('公共厕所')
  expect(page.instance.data.openNow).toBe(true)
  const marker = page.instance.data.markers.find(each => each.id === toilets.taidongId)
  expect(marker.latitude).toBeCloseTo(toilets.taidongGcj02.latitude, 6)
  expect(marker.longitude).toBeCloseTo(toilets.taidongGcj02.longitude, 6)
  expect(page.querySelector('#map').instance.data.markers.map(each => each.id)).toContain(toilets.taidongId)
  expect(text(page, `#facility-${toilets.taidongId} .name`)).toBe('台东三路公厕')
  // Its distance is from the map's centre, which the list says.
  expect(text(page, `#facility-${toilets.taidongId} .distance`)).toMatch(/^[0-4] 米$/)
  expect(text(page, '.around-hint')).toBe('地图中心附近，距离自地图中心算起')
  expect(mapCentre(page, '#map')).toEqual(toilets.taidongGcj02)
  expect(searchesMade()).toEqual([200, 200, 200])

  // Switching 只看开放中 off searches the same place: Taidong's closed toilet joins the list.
  await trigger(page, '#open-now', 'change', {value: false})
  await waitFor(() => listed(page).includes(toilets.taidongClosedId) && !page.instance.data.loading,
    "all of Taidong's toilets")
  expect(listed(page)).not.toContain(toilets.openId)
  expect(mapCentre(page, '#map')).toEqual(toilets.taidongGcj02)

  // Back to the resident: the map and the list.
  await tap(page, '#back-to-me')
  await waitFor(() => listed(page)[0] === toilets.closedId && !page.instance.data.loading, 'the toilets near me')
  expect(listed(page)).not.toContain(toilets.taidongId)
  expect(mapCentre(page, '#map')).toEqual(fixtures.location)
  expect(text(page, `#facility-${toilets.openId} .distance`)).toBe(`${Math.round(toilets.openDistanceM)} 米`)
  expect(page.querySelector('#back-to-me')).toBeFalsy()
  // The map's own moves (its first centre, 回到我的位置) searched no more than asked.
  expect(searchesMade()).toEqual([200, 200, 200, 200, 200])
})
