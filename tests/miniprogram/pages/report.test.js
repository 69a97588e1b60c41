// 我拍我城: a report from the category picked to its timeline, and a problem already reported nearby joined instead.
const api = require('../../../miniprogram/utils/api')
const fixtures = require('../harness/fixtures')
const network = require('../harness/network')
const {device, shown} = require('../harness/wx')
const {openPage, followNavigation, waitFor, tap, trigger, text, texts} = require('../harness/pages')

function classIndexOf(page, label) {
  const index = page.instance.data.categoryColumns[0].indexOf(label)
  if (index < 0) throw new Error(`no category class ${label}`)
  return index
}

test('a report goes from the category picked to its timeline, filed once across a lost answer', async () => {
  device.location = fixtures.location
  device.places.push({name: '湛山路 12 号', address: '山东省青岛市市南区', latitude: fixtures.location.latitude,
    longitude: fixtures.location.longitude})
  device.media.push([{path: fixtures.files.photo, fileType: 'image'}, {path: fixtures.files.video,
    fileType: 'video', duration: 2}])
  device.media.push([{path: fixtures.files.second_photo, fileType: 'image'}])
  device.recording = {path: fixtures.files.voice, duration: 3000}

  const page = openPage('pages/report/new')
  await waitFor(() => page.instance.data.classes.length && page.instance.data.locationState === 'located',
    'categories loaded and the resident located')
  // The open report 60 m away comes first, offered to join.
  await waitFor(() => page.instance.data.nearby.length, 'the problems reported nearby')
  expect(texts(page, '.nearby-category').length).toBeGreaterThan(0)

  // Two levels: the class (events and components both have a 市容环境), then the category within it.
  const classIndex = classIndexOf(page, '事件·市容环境')
  await trigger(page, '#category-picker', 'columnchange', {column: 0, value: classIndex})
  const categories = page.instance.data.categoryColumns[1]
  const categoryIndex = categories.indexOf('暴露垃圾')
  expect(categoryIndex).toBeGreaterThanOrEqual(0)
  await trigger(page, '#category-picker', 'change', {value: [classIndex, categoryIndex]})
  expect(text(page, '.category-chosen')).toBe('市容环境 · 暴露垃圾')

  await tap(page, '#choose-location')
  await waitFor(() => text(page, '.address'), 'the place chosen on the map')
  expect(text(page, '.address')).toBe('山东省青岛市市南区湛山路 12 号')

  await tap(page, '#add-media')
  await waitFor(() => page.instance.data.attachments.length === 2, 'a photo and a video chosen')
  await tap(page, '#add-media')
  await tap(page, '#start-recording')
  await waitFor(() => page.instance.data.recording, 'the recorder started')
  await tap(page, '#stop-recording')
  await waitFor(() => page.instance.data.attachments.length === 4
    && page.instance.data.attachments.every(item => item.mediaId), 'two photos, a video and a voice note uploaded')
  expect(page.instance.data.attachments.map(item => item.kind).sort()).toEqual(['audio', 'photo', 'photo', 'video'])
  expect(texts(page, '.uploaded')).toHaveLength(4)
  expect(network.calls.filter(call => call.path === '/api/v1/media').map(call => call.status))
    .toEqual([201, 201, 201, 201])
  // Each file went up whole as multipart, its progress reported on the way up to 100.
  const photoUpload = network.uploads.find(each => each.filePath.endsWith('IMG_photo.jpg'))
  expect(photoUpload.bytes).toBeGreaterThan(3 * 1024 * 1024)
  network.uploads.forEach(each => expect(each.progress[each.progress.length - 1]).toBe(100))
  expect(photoUpload.progress.length).toBeGreaterThan(2)

  await trigger(page, '#description', 'input', {value: '  路口有一堆建筑垃圾，挡住了盲道。  '})

  // The answer to the first submission is lost on the way back: the resident is told, and tries again.
  network.loseNextAnswer('POST', '/api/v1/reports')
  await tap(page, '#submit')
  await waitFor(() => shown.told.includes('网络连接失败，请检查网络后重试。') && !page.instance.data.submitting,
    'the lost answer shown')
  await tap(page, '#submit')
  await waitFor(() => shown.navigations.length, 'the report filed')

  const submissions = network.calls.filter(call => call.method === 'POST' && call.path === '/api/v1/reports')
  expect(submissions.map(call => call.status)).toEqual([201, 201])
  // Asked once, from the tap, with the template the API publishes; the answer was recorded.
  expect(shown.subscribeRequests).toEqual([[fixtures.statusTemplateId]])
  expect(network.calls.filter(call => call.path === '/api/v1/notifications/subscriptions').map(call => call.method))
    .toEqual(['GET', 'POST'])

  const mine = await api.request('GET', '/api/v1/reports/mine')
  expect(mine.items).toHaveLength(1)
  expect(shown.navigations[0]).toEqual({how: 'redirectTo', url: `/pages/report/detail?id=${mine.items[0].id}`})

  const detail = followNavigation()
  await waitFor(() => detail.instance.data.report, 'the report page')
  expect(text(detail, '.category')).toBe('暴露垃圾')
  expect(text(detail, '.status')).toBe('待审核')
  expect(text(detail, '.description')).toBe('路口有一堆建筑垃圾，挡住了盲道。')
  expect(text(detail, '.meta')).toContain('山东省青岛市市南区湛山路 12 号')
  expect(texts(detail, '.step-status')).toEqual(['待审核'])
  expect(detail.instance.data.report.canWithdraw).toBe(true)  // not yet reviewed: the resident may withdraw it
  // The photos are whole signed links the phone loads as they are.
  const photos = detail.instance.data.report.photoUrls
  expect(photos).toHaveLength(2)
  photos.forEach(url => expect(url.startsWith(`${process.env.MINIPROGRAM_API_BASE}/`)).toBe(true))
  const downloaded = await api.download(photos[0])
  expect(downloaded.startsWith('wxfile://')).toBe(true)
})

test('a problem already reported nearby is joined (附议) instead of filed again', async () => {
  device.location = fixtures.location
  const page = openPage('pages/report/new')
  await waitFor(() => page.instance.data.nearby.some(item => item.id === fixtures.openReportId),
    'the open report nearby')
  expect(page.instance.data.nearby.find(item => item.id === fixtures.openReportId).canJoin).toBe(true)
  // Someone else's report is read here, not opened: the report page is its reporter's and followers' only.
  await tap(page, `#nearby-${fixtures.openReportId}`)
  expect(shown.navigations).toEqual([])

  await tap(page, `#join-${fixtures.openReportId}`)
  await waitFor(() => shown.navigations.length, 'the joined report opened')
  expect(shown.navigations[0].url).toBe(`/pages/report/detail?id=${fixtures.openReportId}`)
  const detail = followNavigation()
  await waitFor(() => detail.instance.data.report, 'the joined report')
  expect(detail.instance.data.report.relation).toBe('me_too')
  expect(text(detail, '.me-too-count')).toMatch(/^\d+ 人附议$/)

  // Filed again from the same place, it shows as joined, not to be joined twice.
  const again = openPage('pages/report/new')
  await waitFor(() => again.instance.data.nearby.length, 'the problems reported nearby')
  const joined = again.instance.data.nearby.find(item => item.id === fixtures.openReportId)
  expect(joined).toMatchObject({relation: 'me_too', canJoin: false})
  await tap(again, `#nearby-${fixtures.openReportId}`)
  expect(shown.navigations[1]).toEqual({how: 'navigateTo', url: `/pages/report/detail?id=${fixtures.openReportId}`})
})

test('without the location permission the place is picked on the map, and what is missing is said before sending',
  async () => {
    device.places.push({name: '湛山路 12 号', address: '山东省青岛市市南区', latitude: fixtures.location.latitude,
      longitude: fixtures.location.longitude})
    const page = openPage('pages/report/new')
    await waitFor(() => page.instance.data.locationState === 'denied' && page.instance.data.classes.length,
      'the location refused')
    expect(text(page, '.location-state')).toBe('无法获取定位，请在地图上选择位置。')

    await tap(page, '#submit')
    expect(shown.told).toEqual(['请选择问题类别'])

    await tap(page, '#choose-location')
    await waitFor(() => page.instance.data.nearby.some(item => item.id === fixtures.openReportId),
      'the problems reported near the place picked')
    expect(text(page, '.address')).toBe('山东省青岛市市南区湛山路 12 号')
    expect(network.calls.filter(call => call.path === '/api/v1/reports')).toEqual([])
  })
