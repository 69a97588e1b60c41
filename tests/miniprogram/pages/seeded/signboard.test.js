// 门头招牌: the templates by category, the chosen one previewed with the shop's name (the preview API's picture, and
// its reason in Chinese when a name cannot be drawn), an application with a facade photo taken now, checked,
// corrected and sent, then followed; an approved application's certificate opened as a PDF.
const fixtures = require('../../harness/fixtures')
const network = require('../../harness/network')
const files = require('../../harness/files')
const {device, shown} = require('../../harness/wx')
const {signInAs} = require('./resident')
const {openPage, followNavigation, waitFor, tap, trigger, text} = require('../../harness/pages')

const fs = require('fs')

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47])

// What <image src> loads: the picture the page points at, fetched as WeChat fetches it.
function loadImage(url) {
  return new Promise((resolve, reject) => wx.downloadFile({
    url,
    success: ({statusCode, tempFilePath}) => resolve({statusCode, bytes: fs.readFileSync(files.realPath(tempFilePath))}),
    fail: reject,
  }))
}

async function fill(page, values) {
  for (const [field, value] of Object.entries(values)) await trigger(page, `#${field}`, 'input', {value})
}

test('a template previewed with the shop name, applied for with a facade photo, and followed', async () => {
  device.location = fixtures.location
  device.places.push({name: '中山路 100 号', address: '山东省青岛市市南区', ...fixtures.location})
  device.media.push([{path: fixtures.files.photo, fileType: 'image'}])

  const page = openPage('pages/signboard/index')
  await waitFor(() => page.instance.data.templates.length && page.instance.data.templateId, 'the catalogue')
  const counts = page.instance.data.categories.map(category => category.count)
  expect(counts).toHaveLength(6)
  expect(counts.reduce((sum, count) => sum + count, 0)).toBe(108)
  await tap(page, '#category-retail')
  await waitFor(() => page.instance.data.templateId.startsWith('retail-'), 'the retail templates')
  expect(page.instance.data.templates.every(template => template.id.startsWith('retail-'))).toBe(true)
  await tap(page, '#category-catering')
  await waitFor(() => page.instance.data.templateId === 'catering-01', 'the catering templates')

  await trigger(page, '#shop-name', 'input', {value: '老王🦐海鲜'})
  await waitFor(() => page.instance.data.preview, 'the preview')
  await trigger(page, '#preview', 'error', {errMsg: 'GET 422'})
  await waitFor(() => shown.modals.length, 'why the name cannot be drawn')
  expect(shown.modals[0].content).toMatch(/^提交的数据未通过校验。\n招牌店名：店名含有招牌字体无法显示的字符：“🦐”/)
  expect(page.instance.data.preview).toBe('')

  await trigger(page, '#shop-name', 'input', {value: '老王海鲜'})
  await waitFor(() => page.instance.data.preview, 'the preview')
  expect(page.instance.data.preview).toBe(`${process.env.MINIPROGRAM_API_BASE}/api/v1/signboard-templates/`
    + `catering-01/preview.png?shop_name=${encodeURIComponent('老王海鲜')}`)
  const picture = await loadImage(page.instance.data.preview)
  expect(picture.statusCode).toBe(200)
  expect(picture.bytes.subarray(0, 4)).toEqual(PNG_SIGNATURE)

  await tap(page, '#apply')
  await waitFor(() => shown.navigations.length, 'the form opened')
  const form = followNavigation()
  await waitFor(() => form.instance.data.mountPositions.length && form.instance.data.form.sign_width_m, 'the form')
  expect(form.instance.data.form).toMatchObject({shop_name: '老王海鲜', template_id: 'catering-01',
    category: 'catering'})
  await fill(form, {licence_name: '青岛市市南区老王海鲜餐饮店', credit_code: '91370200163562681A',
    facade_width_m: '6', facade_height_m: '4', building_storeys: '3', sign_width_m: '5.5', sign_height_m: '0.9',
    mount_height_m: '2.8'})
  await tap(form, '#location')
  await waitFor(() => form.instance.data.form.latitude, 'the place chosen on the map')
  expect(form.instance.data.form.address).toBe('山东省青岛市市南区 中山路 100 号')
  await tap(form, '#facade-photo')
  await waitFor(() => form.instance.data.form.facade_photo_media_id, 'the facade photo uploaded')

  // A mistyped credit code: named in the form's words with the API's reason.
  await tap(form, '#check')
  await waitFor(() => shown.modals.length === 2, 'the check refused')
  expect(shown.modals[1].content).toBe('提交的数据未通过校验。\n统一社会信用代码：统一社会信用代码校验位不正确，请核对营业执照。')
  expect(form.instance.data.invalid).toEqual({credit_code: true})

  await fill(form, {credit_code: '91370200163562681G'})
  await tap(form, '#check')
  await waitFor(() => form.instance.data.checks.length && !form.instance.data.busy, 'the checks')
  expect(form.instance.data.checks.filter(check => !check.passed && check.severity === 'blocking')).toEqual([])
  await tap(form, '#submit')
  await waitFor(() => shown.navigations.length === 2, 'the application sent')
  expect(shown.navigations[1].how).toBe('redirectTo')

  const followed = followNavigation()
  await waitFor(() => followed.instance.data.application, 'the application')
  expect(text(followed, '.status')).toBe('待审核')
  expect(followed.instance.data.application.steps[0].statusLabel).toBe('待审核')
  expect(followed.querySelector('#certificate')).toBeFalsy()
  const sent = network.calls.filter(call => call.path.startsWith('/api/v1/signboard-applications'))
  expect(sent.map(call => `${call.method} ${call.status}`)).toEqual(
    ['GET 200', 'POST 422', 'POST 200', 'POST 201', 'GET 200'])
})

test("an approved application's certificate opens as a PDF", async () => {
  signInAs(fixtures.signboard.openid)
  const page = openPage('pages/signboard/application', {id: fixtures.signboard.approvedId})
  await waitFor(() => page.instance.data.application, 'the application')
  expect(text(page, '.status')).toBe('已批准')
  expect(page.instance.data.application.certificateNumber).toBe(fixtures.signboard.certificateNumber)
  await tap(page, '#certificate')
  await waitFor(() => shown.openedDocuments.length, 'the certificate opened')
  expect(shown.openedDocuments[0].fileType).toBe('pdf')
  expect(shown.openedDocuments[0].bytes.subarray(0, 5).toString()).toBe('%PDF-')
  // The document opens before WeChat answers openDocument's success, so the button frees a moment later.
  await waitFor(() => !page.instance.data.busy, 'the certificate button ready again')
})
