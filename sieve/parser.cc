// The Sieve parser; see parser.h. Recursive descent over the grammar of RFC 5228 section 8.2:
//   commands = *command;  command = identifier arguments (";" / block);  block = "{" commands "}"
//   arguments = *argument [test / test-list];  argument = string-list / number / tag
//   test = identifier arguments;  test-list = "(" test *("," test) ")"
//   string-list = "[" string *("," string) "]" / string
#include "sieve/parser.h"

#include "sieve/lexer.h"

namespace cubby::sieve {
namespace {

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_nesting)
      : tokens_(std::move(tokens)), max_nesting_(max_nesting) {}

  std::optional<Error> commands(std::vector<Node>& out, bool in_block) {
    while (true) {
      const Token& t = peek();
      if (t.kind == Token::Kind::kEnd) {
        if (in_block) return error(t, "missing '}' at the end of the script");
        return std::nullopt;
      }
      if (t.kind == Token::Kind::kRBrace) {
        if (in_block) return std::nullopt;
        return error(t, "'}' without a matching '{'");
      }
      Node node;
      if (auto e = command(node)) return e;
      out.push_back(std::move(node));
    }
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  static Error error(const Token& t, const std::string& what) {
    return Error{Error::Kind::kCompile, "line " + std::to_string(t.line) + ": " + what};
  }

  std::optional<Error> enter(const Token& t) {
    if (++depth_ > max_nesting_)
      return error(t, "nesting deeper than " + std::to_string(max_nesting_) + " levels");
    return std::nullopt;
  }

  std::optional<Error> command(Node& node) {
    const Token& t = next();
    if (t.kind != Token::Kind::kIdentifier)
      return error(t, "expected a command, found " + describe(t));
    node.name = t.text;
    node.line = t.line;
    if (auto e = arguments(node)) return e;
    const Token& end = next();
    if (end.kind == Token::Kind::kSemicolon) return std::nullopt;
    if (end.kind == Token::Kind::kLBrace) {
      if (auto e = enter(end)) return e;
      node.has_block = true;
      if (auto e = commands(node.block, true)) return e;
      next();  // the '}'
      --depth_;
      return std::nullopt;
    }
    return error(end, "expected ';' or '{' after '" + node.name + "', found " + describe(end));
  }

  std::optional<Error> arguments(Node& node) {
    while (true) {
      const Token& t = peek();
      if (t.kind == Token::Kind::kTag) {
        next();
        node.args.push_back(Argument{Argument::Kind::kTag, t.text, 0, {}, false, t.line});
      } else if (t.kind == Token::Kind::kNumber) {
        next();
        node.args.push_back(Argument{Argument::Kind::kNumber, {}, t.number, {}, false, t.line});
      } else if (t.kind == Token::Kind::kString) {
        next();
        node.args.push_back(Argument{Argument::Kind::kStrings, {}, 0, {t.text}, true, t.line});
      } else if (t.kind == Token::Kind::kLBracket) {
        next();
        Argument arg{Argument::Kind::kStrings, {}, 0, {}, false, t.line};
        while (true) {
          const Token& s = next();
          if (s.kind != Token::Kind::kString)
            return error(s, "expected a string in the list, found " + describe(s));
          arg.strings.push_back(s.text);
          const Token& sep = next();
          if (sep.kind == Token::Kind::kRBracket) break;
          if (sep.kind != Token::Kind::kComma)
            return error(sep, "expected ',' or ']' in a string list, found " + describe(sep));
        }
        node.args.push_back(std::move(arg));
      } else {
        break;
      }
    }
    const Token& t = peek();
    if (t.kind == Token::Kind::kIdentifier) {
      Node test;
      if (auto e = enter(t)) return e;
      if (auto e = this->test(test)) return e;
      --depth_;
      node.tests.push_back(std::move(test));
    } else if (t.kind == Token::Kind::kLParen) {
      next();
      if (auto e = enter(t)) return e;
      node.test_list = true;
      while (true) {
        Node test;
        if (auto e = this->test(test)) return e;
        node.tests.push_back(std::move(test));
        const Token& sep = next();
        if (sep.kind == Token::Kind::kRParen) break;
        if (sep.kind != Token::Kind::kComma)
          return error(sep, "expected ',' or ')' in a test list, found " + describe(sep));
      }
      --depth_;
    }
    return std::nullopt;
  }

  std::optional<Error> test(Node& node) {
    const Token& t = next();
    if (t.kind != Token::Kind::kIdentifier)
      return error(t, "expected a test, found " + describe(t));
    node.name = t.text;
    node.line = t.line;
    return arguments(node);
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int max_nesting_;
};

}  // namespace

Result<ScriptTree, Error> parse(std::string_view source, const Limits& limits) {
  if (source.size() > limits.max_script_bytes) {
    return fail(Error{Error::Kind::kCompile, "script is " + std::to_string(source.size()) +
                                                 " bytes, more than the limit of " +
                                                 std::to_string(limits.max_script_bytes)});
  }
  auto tokens = tokenize(source);
  if (!tokens.ok()) return fail(tokens.error());
  Parser parser(std::move(tokens.value()), limits.max_nesting);
  ScriptTree tree;
  if (auto e = parser.commands(tree.commands, false)) return fail(*e);
  return tree;
}

}  // namespace cubby::sieve
