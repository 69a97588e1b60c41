// A validation error's field messages, named as the form names the fields. The API answers them under
// details.fields, keyed by where they were sent ({"json": {"credit_code": ["…"]}}) or by field alone; the
// signboard checks' own messages are Chinese, marshmallow's few generic ones are put into Chinese here.
const GENERIC_MESSAGES = {
  'Missing data for required field.': '必填',
  'Not a valid number.': '应为数字',
  'Not a valid integer.': '应为整数',
  'Not a valid boolean.': '应为是或否',
  'Field may not be null.': '必填',
}
const LOCATIONS = ['json', 'query', 'form', 'files', 'headers']

function messagesByField(details) {
  const fields = (details && details.fields) || {}
  const flat = {}
  Object.keys(fields).forEach(key => {
    if (LOCATIONS.indexOf(key) >= 0 && !Array.isArray(fields[key])) Object.assign(flat, fields[key])
    else flat[key] = fields[key]
  })
  return flat
}

function chinese(message) {
  return GENERIC_MESSAGES[message] || message
}

// "提交的数据未通过校验。\n统一社会信用代码：校验位不正确…" for a modal, with ``labels`` naming the fields.
function describe(error, labels) {
  const fields = messagesByField(error.details)
  const lines = Object.keys(fields).map(field => {
    const messages = [].concat(fields[field]).map(each => (typeof each === 'string' ? chinese(each) : '有误'))
    return `${labels[field] || field}：${messages.join('；')}`
  })
  return [error.message].concat(lines).join('\n')
}

// Shows a validation error (one the page asked utils/api.js to leave to it) with each field's own message.
function show(error, labels) {
  wx.showModal({title: '请修改后再提交', content: describe(error, labels), showCancel: false, confirmText: '知道了'})
}

module.exports = {messagesByField, describe, show}
