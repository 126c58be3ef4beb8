import Foundation

/// A validator for the part of JSON Schema (2020-12) docs/flowscope.schema.json uses: `$ref`
/// (local), `type`, `const`, `enum`, `required`, `properties`, `additionalProperties: false`,
/// `unevaluatedProperties: false`, `items`, `oneOf`, `minimum`, `maximum`, `pattern`.
/// Any other keyword is an error, so the schema cannot silently outgrow the validator.
public struct MiniSchema {
  let root: [String: Any]
  static let known: Set<String> = [
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "const", "enum", "required",
    "properties", "additionalProperties", "unevaluatedProperties", "items", "oneOf", "minimum",
    "maximum", "pattern",
  ]

  public static func load() throws -> MiniSchema {
    let url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("docs/flowscope.schema.json")
    let data = try Data(contentsOf: url)
    guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw CocoaError(.fileReadCorruptFile)
    }
    return MiniSchema(root: root)
  }

  func resolve(_ ref: String) -> [String: Any]? {
    guard ref.hasPrefix("#/") else { return nil }
    var node: Any = root
    for part in ref.dropFirst(2).split(separator: "/") {
      guard let object = node as? [String: Any], let next = object[String(part)] else { return nil }
      node = next
    }
    return node as? [String: Any]
  }

  static func isInteger(_ value: Any) -> Bool {
    guard let number = value as? NSNumber, !isBool(value) else { return false }
    let type = String(cString: number.objCType)
    return type != "d" && type != "f"
  }

  /// JSONSerialization gives `true`/`false` as __NSCFBoolean (and integers as NSNumber, which
  /// Swift also lets cast to Bool, so `is Bool` can't tell them apart).
  static func isBool(_ value: Any) -> Bool {
    type(of: value) == Bool.self || String(describing: type(of: value)).contains("Boolean")
  }

  static func matches(type: String, _ value: Any) -> Bool {
    switch type {
    case "null": value is NSNull
    case "string": value is String
    case "integer": isInteger(value)
    case "number": value is NSNumber && !isBool(value)
    case "object": value is [String: Any]
    case "array": value is [Any]
    case "boolean": isBool(value)
    default: false
    }
  }

  static func equal(_ a: Any, _ b: Any) -> Bool {
    if a is NSNull || b is NSNull { return a is NSNull && b is NSNull }
    if let a = a as? String, let b = b as? String { return a == b }
    if isInteger(a) && isInteger(b) { return (a as! NSNumber) == (b as! NSNumber) }
    return false
  }

  /// Errors of `value` against `schema`; `evaluated` collects the keys `properties` saw (for
  /// `unevaluatedProperties`).
  func errors(_ value: Any, _ schema: [String: Any], at path: String, evaluated: inout Set<String>)
    -> [String]
  {
    var errors: [String] = []
    for key in schema.keys where !Self.known.contains(key) {
      errors.append("\(path): schema keyword \(key) not supported by the test validator")
    }
    if let ref = schema["$ref"] as? String {
      guard let target = resolve(ref) else { return errors + ["\(path): bad $ref \(ref)"] }
      errors += self.errors(value, target, at: path, evaluated: &evaluated)
    }
    if let type = schema["type"] {
      let types = (type as? [String]) ?? [type as! String]
      if !types.contains(where: { Self.matches(type: $0, value) }) {
        errors.append("\(path): \(value) is not of type \(types)")
      }
    }
    if let constant = schema["const"], !Self.equal(value, constant) {
      errors.append("\(path): \(value) is not \(constant)")
    }
    if let options = schema["enum"] as? [Any], !options.contains(where: { Self.equal(value, $0) }) {
      errors.append("\(path): \(value) not in enum")
    }
    if let number = value as? NSNumber, Self.isInteger(value) {
      if let minimum = schema["minimum"] as? NSNumber,
        number.int64Value < minimum.int64Value
          && number.uint64Value < minimum.uint64Value
      {
        errors.append("\(path): \(number) < \(minimum)")
      }
      if let maximum = schema["maximum"] as? NSNumber, number.uint64Value > maximum.uint64Value {
        errors.append("\(path): \(number) > \(maximum)")
      }
    }
    if let pattern = schema["pattern"] as? String, let string = value as? String {
      let regex = try! NSRegularExpression(pattern: pattern)
      if regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil {
        errors.append("\(path): \(string.debugDescription) does not match \(pattern)")
      }
    }
    if let object = value as? [String: Any] {
      for key in (schema["required"] as? [String]) ?? [] where object[key] == nil {
        errors.append("\(path): missing \(key)")
      }
      let properties = (schema["properties"] as? [String: Any]) ?? [:]
      for (key, sub) in properties {
        evaluated.insert(key)
        if let member = object[key] {
          var inner = Set<String>()
          errors += self.errors(
            member, sub as! [String: Any], at: "\(path).\(key)", evaluated: &inner)
        }
      }
      if schema["additionalProperties"] as? Bool == false {
        for key in object.keys where properties[key] == nil {
          errors.append("\(path): unexpected key \(key)")
        }
      }
      if schema["unevaluatedProperties"] as? Bool == false {
        for key in object.keys where !evaluated.contains(key) {
          errors.append("\(path): unexpected key \(key)")
        }
      }
    }
    if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
      for (i, item) in array.enumerated() {
        var inner = Set<String>()
        errors += self.errors(item, items, at: "\(path)[\(i)]", evaluated: &inner)
      }
    }
    if let choices = schema["oneOf"] as? [[String: Any]] {
      var matching = 0
      for choice in choices {
        var inner = Set<String>()
        if self.errors(value, choice, at: path, evaluated: &inner).isEmpty { matching += 1 }
      }
      if matching != 1 { errors.append("\(path): \(matching) oneOf choices match \(value)") }
    }
    return errors
  }

  public func validate(_ value: Any, against ref: String = "") -> [String] {
    var evaluated = Set<String>()
    let schema = ref.isEmpty ? root : (resolve(ref) ?? [:])
    return errors(value, schema, at: "$", evaluated: &evaluated)
  }
}
