//! `$filter` parsing end to end: the Graph documentation's examples for the sign-in, directory
//! audit and provisioning endpoints, precedence, every error with its position, hostile input
//! (limits, deep nesting, huge tokens), a deterministic fuzz run and the display round trip.

use std::time::{Duration, Instant};

use gatehouse_odata::{
    parse_filter, parse_filter_with, CompareOp, ErrorKind, Expr, ExprKind, Filter, Function,
    LambdaKind, Limits, Literal, Path, Root, Span, MAX_DEPTH, MAX_FILTER_LEN, MAX_IN_ITEMS,
    MAX_NODES, MAX_STRING_LEN,
};

fn ok(s: &str) -> Filter {
    match parse_filter(s) {
        Ok(f) => f,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

/// The error for `s`: its position and message, checked to be displayable.
fn err(s: &str) -> (usize, String) {
    match parse_filter(s) {
        Ok(f) => panic!("{s:?} should fail, parsed as {f}"),
        Err(e) => {
            assert_eq!(e.option, "$filter");
            let pos = e.position.expect("filter errors have a position");
            assert!(pos <= s.len() && s.is_char_boundary(pos), "{s:?}: {e}");
            (pos, e.to_string())
        }
    }
}

fn canon(s: &str) -> String {
    ok(s).to_string()
}

/// A copy with every span zeroed, for comparing trees parsed from different text.
fn strip(e: &Expr) -> Expr {
    let kind = match &e.kind {
        ExprKind::And(v) => ExprKind::And(v.iter().map(strip).collect()),
        ExprKind::Or(v) => ExprKind::Or(v.iter().map(strip).collect()),
        ExprKind::Not(x) => ExprKind::Not(Box::new(strip(x))),
        ExprKind::Compare { op, left, right } => ExprKind::Compare {
            op: *op,
            left: Box::new(strip(left)),
            right: Box::new(strip(right)),
        },
        ExprKind::In { operand, values } => ExprKind::In {
            operand: Box::new(strip(operand)),
            values: values
                .iter()
                .map(|(l, _)| (l.clone(), Span::default()))
                .collect(),
        },
        ExprKind::Call { func, args } => ExprKind::Call {
            func: *func,
            args: args.iter().map(strip).collect(),
        },
        ExprKind::Lambda(l) => {
            let mut l = l.clone();
            l.collection.span = Span::default();
            if let Some(b) = &mut l.body {
                *b.expr = strip(&b.expr);
            }
            ExprKind::Lambda(l)
        }
        ExprKind::Path(p) => ExprKind::Path(Path {
            span: Span::default(),
            ..p.clone()
        }),
        ExprKind::Literal(l) => ExprKind::Literal(l.clone()),
    };
    Expr {
        kind,
        span: Span::default(),
    }
}

/// Checks `parse(display(parse(s))) == parse(s)` modulo spans, and that display is stable.
fn round_trip(f: &Filter) {
    let shown = f.to_string();
    let again = parse_filter(&shown)
        .unwrap_or_else(|e| panic!("{:?} displayed as {shown:?}, which fails: {e}", f.source));
    assert_eq!(
        strip(&again.expr),
        strip(&f.expr),
        "{:?} displayed as {shown:?}",
        f.source
    );
    assert_eq!(again.to_string(), shown);
}

fn record(segments: &[&str]) -> Path {
    Path {
        root: Root::Record,
        segments: segments.iter().map(|s| s.to_string()).collect(),
        span: Span::default(),
    }
}

fn lit(e: &Expr) -> &Literal {
    match &e.kind {
        ExprKind::Literal(l) => l,
        other => panic!("not a literal: {other:?}"),
    }
}

fn path(e: &Expr) -> &Path {
    match &e.kind {
        ExprKind::Path(p) => p,
        other => panic!("not a path: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Graph documentation examples

const GRAPH_EXAMPLES: &[&str] = &[
    // signIns
    "startsWith(appDisplayName,'Graph')",
    "createdDateTime ge 2024-07-01T00:00:00Z and createdDateTime le 2024-07-14T17:43:26Z",
    "(createdDateTime ge 2024-01-13T14:13:32Z and createdDateTime le 2024-01-14T17:43:26Z)",
    "status/errorCode eq 50126",
    "status/errorCode ne 0",
    "signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')",
    "signInEventTypes/any(t: t ne 'interactiveUser')",
    "signInEventTypes/any(t: t eq 'servicePrincipal')",
    "signInEventTypes/any(t: t eq 'managedIdentity')",
    "userPrincipalName eq 'a@b.com'",
    "userId eq '8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b'",
    "appId eq 'de8bc8b5-d9f9-48b1-a8ad-b748da725064'",
    "ipAddress eq '203.0.113.7'",
    "location/city eq 'Redmond'",
    "location/countryOrRegion eq 'US'",
    "deviceDetail/browser eq 'Edge 120.0.0'",
    "deviceDetail/operatingSystem eq 'Windows10'",
    "clientAppUsed eq 'Browser'",
    "conditionalAccessStatus eq 'success'",
    "isInteractive eq true",
    "riskState eq 'atRisk'",
    "riskLevelDuringSignIn eq 'high'",
    "riskEventTypes_v2/any(x: startswith(x, 'unfamiliar'))",
    "appliedConditionalAccessPolicies/any(p: p/result eq 'failure')",
    "createdDateTime ge 2024-07-01T00:00:00.1234567Z",
    "createdDateTime ge 2021-07-21T00:00:00.000Z and status/errorCode eq 0",
    "createdDateTime le 2024-07-01T00:00:00+02:00",
    "correlationId eq 8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b",
    "id eq '66ea54eb-6301-4ee5-be62-ff5a759b0100'",
    "startswith(userPrincipalName, 'admin') and status/errorCode eq 0",
    "appDisplayName eq 'Graph Explorer' or appDisplayName eq 'Azure Portal'",
    "not(status/errorCode eq 0)",
    "servicePrincipalId eq '0b4f5ebc-5ec2-48c4-92ef-5e6fdb2d1f49'",
    // directoryAudits
    "activityDisplayName eq 'Add user'",
    "activityDateTime ge 2024-01-01",
    "activityDateTime le 2018-01-24",
    "category eq 'UserManagement'",
    "result eq 'success'",
    "loggedByService eq 'Core Directory'",
    "correlationId eq 'da159bfb-54fa-4092-8a38-0b4a7d2a9bd6'",
    "initiatedBy/user/userPrincipalName eq 'x'",
    "initiatedBy/user/id eq '95a8f1f6-3a3e-4c1e-8c9a-2b2f0b1d2c3e'",
    "initiatedBy/user/displayName eq 'Jamie Reding'",
    "initiatedBy/app/appId eq 'de8bc8b5-d9f9-48b1-a8ad-b748da725064'",
    "initiatedBy/app/displayName eq 'Microsoft Azure AD Internal - Jit Provisioning'",
    "targetResources/any(t: t/displayName eq 'MyApp')",
    "targetResources/any(t: t/displayName eq 'Alice')",
    "targetResources/any(t: t/id eq '4d5e6f7a-1b5e-4d5e-9a2b-3c4d5e6f7a8b')",
    "targetResources/any(x: startswith(x/displayName, 'def'))",
    "targetResources/any(t: t/type eq 'User' and t/userPrincipalName eq 'a@b.com')",
    "activityDateTime ge 2024-07-01T00:00:00Z and category eq 'RoleManagement'",
    "operationType eq 'Add'",
    // provisioning
    "jobId eq 'AAD2ADSync.1b5e4d5e9a2b3c4d5e6f7a8b.0a1b2c3d'",
    "provisioningStatusInfo/status eq 'failure'",
    "servicePrincipal/id eq '8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b'",
    "servicePrincipal/displayName eq 'Salesforce'",
    "statusInfo/status eq 'success'",
    "activityDateTime gt 2024-07-01T00:00:00Z",
    "provisioningAction eq 'create'",
    "action eq 'Create'",
    "cycleId eq '0ef1f2a3-1b5e-4d5e-9a2b-3c4d5e6f7a8b'",
    "changeId eq 'b7e5f6a1-1b5e-4d5e-9a2b-3c4d5e6f7a8b'",
    "sourceIdentity/id eq 'x'",
    "targetIdentity/displayName eq 'Alice'",
    "sourceSystem/displayName eq 'Azure Active Directory'",
    "targetSystem/displayName eq 'Salesforce'",
    "initiatedBy/displayName eq 'Azure AD Provisioning Service'",
    "provisioningSteps/any(s: s/status eq 'failure')",
    "tenantId eq '2b5c7f6e-1b5e-4d5e-9a2b-3c4d5e6f7a8b'",
];

#[test]
fn graph_examples_parse_and_round_trip() {
    for s in GRAPH_EXAMPLES {
        let f = ok(s);
        round_trip(&f);
    }
}

#[test]
fn examples_shape() {
    let f = ok("startsWith(appDisplayName,'Graph')");
    let ExprKind::Call { func, args } = &f.expr.kind else {
        panic!("{f:?}")
    };
    assert_eq!(*func, Function::StartsWith);
    assert_eq!(path(&args[0]).segments, ["appDisplayName"]);
    assert_eq!(lit(&args[1]), &Literal::String("Graph".into()));
    assert_eq!(f.expr.span, Span::new(0, 34));
    assert_eq!(f.to_string(), "startswith(appDisplayName, 'Graph')");

    let f = ok("status/errorCode eq 50126");
    let ExprKind::Compare { op, left, right } = &f.expr.kind else {
        panic!()
    };
    assert_eq!(*op, CompareOp::Eq);
    assert_eq!(path(left).segments, ["status", "errorCode"]);
    assert_eq!(path(left).span, Span::new(0, 16));
    assert_eq!(f.text(left.span), "status/errorCode");
    assert_eq!(lit(right), &Literal::Int(50126));
    assert_eq!(f.text(right.span), "50126");

    let f =
        ok("createdDateTime ge 2024-07-01T00:00:00Z and createdDateTime le 2024-07-14T17:43:26Z");
    let ExprKind::And(terms) = &f.expr.kind else {
        panic!()
    };
    assert_eq!(terms.len(), 2);
    let ExprKind::Compare { right, .. } = &terms[1].kind else {
        panic!()
    };
    assert_eq!(
        lit(right),
        &Literal::DateTimeOffset {
            text: "2024-07-14T17:43:26Z".into(),
            utc_nanos: 1_720_979_006_000_000_000,
        }
    );

    let f = ok("activityDateTime ge 2024-01-01");
    let ExprKind::Compare { right, .. } = &f.expr.kind else {
        panic!()
    };
    assert_eq!(
        lit(right),
        &Literal::Date {
            text: "2024-01-01".into(),
            days: 19_723
        }
    );

    let f = ok("correlationId eq 8A07C4D1-1b5e-4d5e-9a2b-3c4d5e6f7a8b");
    let ExprKind::Compare { right, .. } = &f.expr.kind else {
        panic!()
    };
    assert_eq!(
        lit(right),
        &Literal::Guid("8A07C4D1-1b5e-4d5e-9a2b-3c4d5e6f7a8b".into())
    );
}

#[test]
fn lambdas_distinguish_element_and_record() {
    let f = ok("signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')");
    let ExprKind::Lambda(l) = &f.expr.kind else {
        panic!()
    };
    assert_eq!(l.kind, LambdaKind::Any);
    assert_eq!(l.collection.segments, ["signInEventTypes"]);
    assert_eq!(l.collection.root, Root::Record);
    let body = l.body.as_ref().unwrap();
    assert_eq!(body.var, "t");
    let ExprKind::Or(terms) = &body.expr.kind else {
        panic!()
    };
    let ExprKind::Compare { left, .. } = &terms[0].kind else {
        panic!()
    };
    assert_eq!(path(left).root, Root::Lambda("t".into()));
    assert!(path(left).segments.is_empty());

    // A record property inside the body, and a member of the element.
    let f = ok("targetResources/all(t: t/displayName eq category)");
    let ExprKind::Lambda(l) = &f.expr.kind else {
        panic!()
    };
    assert_eq!(l.kind, LambdaKind::All);
    let ExprKind::Compare { left, right, .. } = &l.body.as_ref().unwrap().expr.kind else {
        panic!()
    };
    assert_eq!(path(left).root, Root::Lambda("t".into()));
    assert_eq!(path(left).segments, ["displayName"]);
    assert_eq!(path(right).root, Root::Record);
    assert_eq!(path(right).segments, ["category"]);

    // `$it` reaches a record property that a variable shadows; display keeps it apart.
    let f = ok("targetResources/any(t: t/x eq $it/t)");
    assert_eq!(f.to_string(), "targetResources/any(t: t/x eq $it/t)");
    round_trip(&f);

    // Bare any(), nested lambdas, lambda over an element member.
    let f = ok("signInEventTypes/any()");
    let ExprKind::Lambda(l) = &f.expr.kind else {
        panic!()
    };
    assert!(l.body.is_none());
    let f =
        ok("targetResources/any(t: t/modifiedProperties/any(p: p/displayName eq t/displayName))");
    let ExprKind::Lambda(outer) = &f.expr.kind else {
        panic!()
    };
    let ExprKind::Lambda(inner) = &outer.body.as_ref().unwrap().expr.kind else {
        panic!()
    };
    assert_eq!(inner.collection.root, Root::Lambda("t".into()));
    assert_eq!(inner.collection.segments, ["modifiedProperties"]);
    let ExprKind::Compare { left, right, .. } = &inner.body.as_ref().unwrap().expr.kind else {
        panic!()
    };
    assert_eq!(path(left).root, Root::Lambda("p".into()));
    assert_eq!(path(right).root, Root::Lambda("t".into()));
    round_trip(&f);

    // A variable is only in scope in its body.
    let f = ok("a/any(t: t eq 1) and t eq 2");
    let ExprKind::And(terms) = &f.expr.kind else {
        panic!()
    };
    let ExprKind::Compare { left, .. } = &terms[1].kind else {
        panic!()
    };
    assert_eq!(
        path(left),
        &Path {
            span: Span::new(21, 22),
            ..record(&["t"])
        }
    );
}

#[test]
fn case_insensitive_keywords_and_functions() {
    assert_eq!(
        canon(
            "A EQ 1 AND NOT (B Ne 'x') OR STARTSWITH(c, 'y') or Contains(d,'z') or endsWith(e,'w')"
        ),
        "A eq 1 and not (B ne 'x') or startswith(c, 'y') or contains(d, 'z') or endswith(e, 'w')"
    );
    assert_eq!(canon("x/ANY(t: t eq TRUE)"), "x/any(t: t eq true)");
    assert_eq!(canon("x/All(t: t ne NULL)"), "x/all(t: t ne null)");
    assert_eq!(canon("a\teq\t1"), "a eq 1");
    assert_eq!(canon("  a eq 1  "), "a eq 1");
    assert_eq!(
        canon("startswith(a,'x') eq true"),
        "startswith(a, 'x') eq true"
    );
    assert_eq!(
        canon("startswith(a,'x') eq false"),
        "startswith(a, 'x') eq false"
    );
    assert_eq!(canon("appId in ('a', 'b')"), "appId in ('a', 'b')");
    assert_eq!(canon("appId IN ('a')"), "appId in ('a')");
    assert_eq!(canon("a eq 'it''s'"), "a eq 'it''s'");
    assert_eq!(canon("a eq 'ünïcødé ✓'"), "a eq 'ünïcødé ✓'");
    assert_eq!(canon("a eq -1.5e-3"), "a eq -0.0015");
    assert_eq!(canon("a eq 1e300"), "a eq 1e300");
    assert_eq!(canon("a eq 2.0"), "a eq 2.0");
    assert_eq!(
        canon("a eq -9223372036854775808"),
        "a eq -9223372036854775808"
    );
    assert_eq!(canon("isInteractive"), "isInteractive");
    assert_eq!(canon("true"), "true");
    assert_eq!(canon("not isInteractive"), "not isInteractive");
    assert_eq!(canon("not not a"), "not not a");
    assert_eq!(canon("$it/not eq 1"), "$it/not eq 1");
    assert_eq!(
        canon("riskEventTypes_v2/any(x: x eq 'a')"),
        "riskEventTypes_v2/any(x: x eq 'a')"
    );
    assert_eq!(canon("_a eq 1"), "_a eq 1");
}

#[test]
fn precedence() {
    // and binds tighter than or.
    assert_eq!(canon("a or b and c"), "a or b and c");
    let f = ok("a or b and c");
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    assert!(matches!(terms[1].kind, ExprKind::And(_)));
    let f = ok("a and b or c");
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    assert!(matches!(terms[0].kind, ExprKind::And(_)));
    // Parentheses override.
    assert_eq!(canon("(a or b) and c"), "(a or b) and c");
    // Chains are flat, through parentheses too.
    assert_eq!(canon("a and (b and c) and d"), "a and b and c and d");
    let f = ok("a or (b or c)");
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    assert_eq!(terms.len(), 3);
    // Comparison binds tighter than and/or.
    let f = ok("a eq 1 and b eq 2 or c eq 3");
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    let ExprKind::And(inner) = &terms[0].kind else {
        panic!()
    };
    assert!(matches!(inner[0].kind, ExprKind::Compare { .. }));
    // not binds tighter than comparison: `not a eq true` is `(not a) eq true`.
    let f = ok("not a eq true");
    let ExprKind::Compare { left, .. } = &f.expr.kind else {
        panic!()
    };
    assert!(matches!(left.kind, ExprKind::Not(_)));
    assert_eq!(f.to_string(), "(not a) eq true");
    // not over a parenthesized comparison, and not(...) written as a call.
    assert_eq!(canon("not (a eq 1)"), "not (a eq 1)");
    assert_eq!(canon("not(a eq 1)"), "not (a eq 1)");
    assert_eq!(canon("not a eq true and b"), "(not a) eq true and b");
    // not binds tighter than and.
    let f = ok("not a and b");
    let ExprKind::And(terms) = &f.expr.kind else {
        panic!()
    };
    assert!(matches!(terms[0].kind, ExprKind::Not(_)));
    // Comparing conditions needs parentheses and keeps them.
    assert_eq!(canon("(a eq 1) eq (b eq 2)"), "(a eq 1) eq (b eq 2)");
    // in binds like a comparison.
    let f = ok("a in (1, 2) or b");
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    let ExprKind::In { operand, values } = &terms[0].kind else {
        panic!()
    };
    assert_eq!(path(operand).segments, ["a"]);
    assert_eq!(values.len(), 2);
    assert_eq!(values[1].1, Span::new(9, 10));
    // Spans cover parentheses.
    let f = ok(" ( a eq 1 ) ");
    assert_eq!(f.expr.span, Span::new(1, 11));
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn error_positions_and_messages() {
    let cases: &[(&str, usize, &str)] = &[
        ("a eq", 4, "expected a value after 'eq', found end of input"),
        ("a EQ ", 5, "expected a value after 'EQ', found end of input"),
        ("", 0, "expected a condition, found end of input"),
        ("   ", 3, "expected a condition, found end of input"),
        ("eq 1", 0, "expected a condition, found 'eq'"),
        ("a eq 1 )", 7, "unbalanced ')'"),
        ("a eq 1 b", 7, "expected 'and', 'or' or end of input, found 'b'"),
        ("a b", 2, "expected an operator such as 'eq', 'and', 'or' or end of input, found 'b'"),
        ("a eq 'abc", 5, "unterminated string literal"),
        ("(a eq 1", 7, "expected ')' to close the '(' at position 0"),
        ("a eq 1 and (b eq 2", 18, "expected ')' to close the '(' at position 11"),
        ("createdDateTime ge 2024-13-01T00:00:00Z", 24, "month 13 is out of range (01-12)"),
        ("createdDateTime ge 2023-02-29T00:00:00Z", 27, "day 29 is out of range for February 2023 (01-28)"),
        ("a eq 2024-02-30", 13, "day 30 is out of range for February 2024 (01-29)"),
        ("a eq 2024-07-01T25:00:00Z", 16, "hour 25 is out of range (00-23)"),
        ("a eq 2024-07-01T00:00:00", 24, "expected 'Z' or a UTC offset"),
        ("a eq 2024-07-01T00:00:00Zx", 25, "unexpected character 'x' after the date-time"),
        ("a eq 2024-7-01", 11, "malformed date"),
        ("a eq 8a07c4d1-1b5e-4d5e-9a2b", 5, "malformed GUID"),
        ("a eq 1 and", 10, "expected a condition after 'and', found end of input"),
        ("a eq 1 or", 9, "expected a condition after 'or', found end of input"),
        ("a eq 1 and or b", 11, "expected a condition after 'and', found 'or'"),
        ("a eq 99999999999999999999", 5, "integer 99999999999999999999 does not fit in 64 bits"),
        ("a eq -9223372036854775809", 5, "does not fit in 64 bits"),
        ("a eq 1e400", 5, "number 1e400 is out of range"),
        ("a eq 1.", 7, "expected digits after the decimal point"),
        ("a eq 12abc", 7, "unexpected character 'a' after the number"),
        ("startswith(a)", 0, "'startswith' takes 2 arguments, found 1"),
        ("contains(a, 'b', 'c')", 0, "'contains' takes 2 arguments, found 3"),
        ("endswith()", 0, "'endswith' takes 2 arguments, found 0"),
        ("foo(a, 'x')", 0, "unknown function 'foo' (supported: startswith, endswith, contains)"),
        ("a eq tolower(b)", 5, "unknown function 'tolower'"),
        ("startswith(a, 'x'", 17, "expected ',' or ')' in the arguments of 'startswith', found end of input"),
        ("startswith(a eq 1, 'x')", 11, "expected a string argument of 'startswith', found a condition"),
        ("any(t: t eq 1)", 0, "'any' must follow a collection property"),
        ("x/any(t: t eq 1", 15, "expected ')' to close 'any(' at position 5, or an operator, found end of input"),
        ("x/any(t t eq 1)", 8, "expected ':' after the lambda variable 't', found 't'"),
        ("x/any(1)", 6, "expected a variable name and ':'"),
        ("x/all()", 2, "'all()' needs a condition"),
        ("x/any(eq: eq eq 1)", 6, "'eq' is a keyword and cannot name a lambda variable"),
        ("t/any(t: t/any(t: t eq 1))", 15, "variable 't' is already used by an enclosing lambda"),
        ("x/any(t: 'a')", 9, "expected a condition in the body of 'any', found a string"),
        ("$it/any(t: t eq 1)", 4, "'any' needs a collection property before it"),
        ("$foo eq 1", 0, "unknown variable '$foo'"),
        ("a eq $t", 5, "unknown variable '$t'"),
        ("$it eq 1", 4, "expected '/' and a property name after '$it', found 'eq'"),
        ("$ eq 1", 0, "expected a name after '$'"),
        ("a/", 2, "expected a property name after '/', found end of input"),
        ("a/1 eq 1", 2, "expected a property name after '/', found number 1"),
        ("a/b(1) eq 1", 3, "only any and all can follow a path"),
        ("a eq 1 eq 2", 7, "comparisons cannot be chained"),
        ("a eq 1 in (1)", 7, "comparisons cannot be chained"),
        ("a has 'x'", 2, "operator 'has' is not supported"),
        ("a add 1 eq 2", 2, "operator 'add' is not supported"),
        ("'x' and a eq 1", 0, "expected a condition on each side of 'and', found a string"),
        ("a eq 1 or 5", 10, "expected a condition on each side of 'or', found a number"),
        ("not 'x'", 4, "expected a condition after 'not', found a string"),
        ("'x'", 0, "expected a condition as the filter, found a string"),
        ("null", 0, "expected a condition as the filter, found null"),
        ("2024-07-01", 0, "expected a condition as the filter, found a date"),
        ("not a eq 'x'", 6, "cannot compare a condition with a string ('not' applies before 'eq': write not (a eq b))"),
        ("(a eq 1) eq 'x'", 9, "cannot compare a condition with a string"),
        ("a in ()", 6, "expected a literal value in the 'in' list, found ')'"),
        ("a in (b)", 6, "expected a literal value in the 'in' list, found 'b'"),
        ("a in ('x' 'y')", 10, "expected ',' or ')' in the 'in' list, found string 'y'"),
        ("a in 'x'", 5, "expected '(' and a list of values after 'in', found string 'x'"),
        ("(a eq 1) in (1)", 0, "expected a value before 'in', found a condition"),
        ("a eq \"x\"", 5, "unexpected character '\"' (strings are quoted with single quotes in OData)"),
        ("a = 1", 2, "unexpected character '=' (use 'eq')"),
        ("a eq 1 && b", 7, "unexpected character '&' (use 'and')"),
        ("name eq 'é' and é eq 1", 17, "unexpected character 'é'"),
        ("é", 0, "unexpected character 'é'"),
        ("a eq 1\u{0}", 6, "unexpected character U+0000"),
        ("a eq 1 or (", 11, "expected a condition after '(', found end of input"),
        ("()", 1, "expected a condition after '(', found ')'"),
        ("a eq ,", 5, "expected a value after 'eq', found ','"),
        ("a eq 'x' and b eq 'unterminated", 18, "unterminated string literal"),
        // The earliest problem wins: the trailing token before the bad one.
        ("a eq 1 b eq 'unterminated", 7, "expected 'and', 'or' or end of input, found 'b'"),
    ];
    for (input, pos, fragment) in cases {
        let (p, msg) = err(input);
        assert_eq!(p, *pos, "{input:?}: {msg}");
        assert!(
            msg.contains(fragment),
            "{input:?}: {msg:?} lacks {fragment:?}"
        );
        assert!(
            msg.starts_with(&format!("$filter: at position {pos}: ")),
            "{msg}"
        );
    }
}

#[test]
fn error_display_is_friendly() {
    let e = parse_filter("createdDateTime eq").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$filter: at position 18: expected a value after 'eq', found end of input"
    );
    assert_eq!(e.kind, ErrorKind::Syntax);
    let e = parse_filter("a eq 2024-13-01").unwrap_err();
    assert_eq!(
        e.to_string(),
        "$filter: at position 10: month 13 is out of range (01-12)"
    );
    assert_eq!(e.kind, ErrorKind::Invalid);
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/// Runs `f`, asserting that it returns an error of `kind` quickly.
fn fails_fast(input: &str, limits: &Limits, kind: ErrorKind) -> usize {
    let started = Instant::now();
    let result = parse_filter_with(input, limits);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let e = result.expect_err("hostile input must fail");
    assert_eq!(e.kind, kind, "{e}");
    let pos = e.position.unwrap();
    assert!(pos <= input.len() && input.is_char_boundary(pos));
    pos
}

const UNLIMITED_LEN: Limits = Limits {
    max_len: usize::MAX,
    ..Limits::DEFAULT
};

#[test]
fn deep_parentheses() {
    let deep = "(".repeat(100_000);
    assert_eq!(fails_fast(&deep, &Limits::DEFAULT, ErrorKind::Limit), 0);
    assert_eq!(
        fails_fast(&deep, &UNLIMITED_LEN, ErrorKind::Limit),
        MAX_DEPTH
    );
    let within = "(".repeat(60_000);
    assert_eq!(
        fails_fast(&within, &Limits::DEFAULT, ErrorKind::Limit),
        MAX_DEPTH
    );
    // Exactly the limit is fine.
    let s = format!("{}a eq 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    ok(&s);
    let s = format!(
        "{}a eq 1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        fails_fast(&s, &Limits::DEFAULT, ErrorKind::Limit),
        MAX_DEPTH
    );
    let msg = parse_filter(&s).unwrap_err().to_string();
    assert!(msg.contains("deeper than 64 levels"), "{msg}");
}

#[test]
fn deep_nots() {
    let deep = "not ".repeat(100_000);
    assert_eq!(fails_fast(&deep, &Limits::DEFAULT, ErrorKind::Limit), 0);
    assert_eq!(
        fails_fast(&deep, &UNLIMITED_LEN, ErrorKind::Limit),
        MAX_DEPTH * 4
    );
    let within = format!("{}a", "not ".repeat(16_000));
    assert_eq!(
        fails_fast(&within, &Limits::DEFAULT, ErrorKind::Limit),
        MAX_DEPTH * 4
    );
    ok(&format!("{}a", "not ".repeat(MAX_DEPTH)));
    let mixed = "not (".repeat(50_000);
    assert_eq!(fails_fast(&mixed, &UNLIMITED_LEN, ErrorKind::Limit), 160);
}

#[test]
fn deep_lambdas_and_calls() {
    let mut s = String::new();
    for i in 0..10_000 {
        s.push_str(&format!("c/any(v{i}: "));
    }
    fails_fast(&s, &UNLIMITED_LEN, ErrorKind::Limit);
    let calls = "startswith(".repeat(20_000);
    fails_fast(&calls, &UNLIMITED_LEN, ErrorKind::Limit);
    let mixed: String = (0..5_000)
        .map(|i| format!("startswith((not c/any(t{i}: ("))
        .collect();
    fails_fast(&mixed, &UNLIMITED_LEN, ErrorKind::Limit);
}

#[test]
fn long_inputs() {
    let long = format!("a eq '{}'", "x".repeat(MAX_FILTER_LEN));
    let e = parse_filter(&long).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert_eq!(e.position, Some(0));
    assert!(
        e.to_string()
            .contains("longer than the limit of 65536 bytes"),
        "{e}"
    );
    // Exactly the limit parses.
    let s = format!("a eq 1{}", " ".repeat(MAX_FILTER_LEN - 6));
    assert_eq!(s.len(), MAX_FILTER_LEN);
    ok(&s);

    let big_string = format!("a eq '{}'", "x".repeat(MAX_STRING_LEN + 1));
    assert_eq!(
        fails_fast(&big_string, &Limits::DEFAULT, ErrorKind::Limit),
        5
    );
    let at_limit = format!("a eq '{}'", "x".repeat(MAX_STRING_LEN));
    ok(&at_limit);
    let escaped = format!("a eq '{}'", "''".repeat(MAX_STRING_LEN));
    ok(&escaped);
    let escaped = format!("a eq '{}'", "''".repeat(MAX_STRING_LEN + 1));
    assert_eq!(fails_fast(&escaped, &Limits::DEFAULT, ErrorKind::Limit), 5);
    let unterminated = format!("a eq '{}", "é".repeat(30_000));
    assert_eq!(
        fails_fast(&unterminated, &Limits::DEFAULT, ErrorKind::Limit),
        5
    );
    let unterminated = format!("a eq '{}", "é".repeat(100));
    assert_eq!(
        fails_fast(&unterminated, &Limits::DEFAULT, ErrorKind::Syntax),
        5
    );

    let huge_int = format!("a eq {}", "9".repeat(60_000));
    assert_eq!(
        fails_fast(&huge_int, &Limits::DEFAULT, ErrorKind::Invalid),
        5
    );
    let huge_float = format!("a eq {}.5", "9".repeat(60_000));
    assert_eq!(
        fails_fast(&huge_float, &Limits::DEFAULT, ErrorKind::Invalid),
        5
    );
    let e = parse_filter(&huge_int).unwrap_err().to_string();
    assert!(e.len() < 200, "{e}");
    let long_name = "a".repeat(60_000);
    let e = parse_filter(&format!("{long_name} {long_name}"))
        .unwrap_err()
        .to_string();
    assert!(e.len() < 200, "{e}");
}

#[test]
fn in_list_and_node_limits() {
    let items = |n: usize| {
        let v: Vec<String> = (0..n).map(|i| format!("'{i}'")).collect();
        format!("appId in ({})", v.join(","))
    };
    let f = ok(&items(MAX_IN_ITEMS));
    let ExprKind::In { values, .. } = &f.expr.kind else {
        panic!()
    };
    assert_eq!(values.len(), MAX_IN_ITEMS);
    let s = items(MAX_IN_ITEMS + 1);
    let pos = fails_fast(&s, &Limits::DEFAULT, ErrorKind::Limit);
    assert_eq!(&s[pos..pos + 6], "'1000'");

    let many = vec!["a eq 1"; 4_000].join(" or ");
    let pos = fails_fast(&many, &Limits::DEFAULT, ErrorKind::Limit);
    assert!(parse_filter(&many)
        .unwrap_err()
        .to_string()
        .contains("more than 10000 nodes"));
    assert!(pos > 0);
    let huge = vec!["a eq 1"; 100_000].join(" and ");
    fails_fast(&huge, &UNLIMITED_LEN, ErrorKind::Limit);
    // Within the node limit a long flat chain is fine, and stays shallow.
    let f = ok(&vec!["a eq 1"; 3_000].join(" or "));
    let ExprKind::Or(terms) = &f.expr.kind else {
        panic!()
    };
    assert_eq!(terms.len(), 3_000);
    let small = Limits {
        max_nodes: 3,
        ..Limits::DEFAULT
    };
    assert!(parse_filter_with("a eq 1", &small).is_ok());
    assert!(parse_filter_with("a eq 1 or b", &small).is_err());
    assert_eq!(MAX_NODES, 10_000);
}

// ---------------------------------------------------------------------------------------------
// Fuzzing and round trips

/// xorshift64*: small, deterministic, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FUZZ_TOKENS: &[&str] = &[
    "a",
    "b/c",
    "t",
    "t/x",
    "x",
    "$it/a",
    "$it",
    "$q",
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "EQ",
    "and",
    "or",
    "not",
    "in",
    "has",
    "(",
    ")",
    "((",
    "))",
    ",",
    "/",
    ":",
    "'x'",
    "'it''s'",
    "''",
    "'",
    "'é",
    "1",
    "-2",
    "0",
    "1.5",
    "1e3",
    "1e",
    "1.",
    "99999999999999999999",
    "true",
    "false",
    "null",
    "2024-07-01",
    "2024-07-01T00:00:00Z",
    "2024-02-30",
    "2024-13-01T00:00:00Z",
    "2024-07-01T00:00:00.1234567+02:00",
    "2024-07-01T",
    "8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b",
    "8a07c4d1-",
    "startswith(",
    "endsWith(",
    "contains(",
    "foo(",
    "any(",
    "all(",
    "/any(",
    "/all(",
    "/any()",
    "t:",
    "x:",
    "é",
    "✓",
    "\t",
    " ",
    " ",
    " ",
    "  ",
    "\u{0}",
    "\"",
    "=",
    "-",
];

/// A random string of OData tokens, random ASCII bytes and random characters.
fn fuzz_input(rng: &mut Rng) -> String {
    let mut s = String::new();
    let n = rng.below(24);
    for _ in 0..n {
        match rng.below(10) {
            0 => s.push(char::from(rng.below(128) as u8)),
            1 => s.push(char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{FFFD}')),
            _ => s.push_str(rng.pick(FUZZ_TOKENS)),
        }
        if rng.below(3) > 0 {
            s.push(' ');
        }
    }
    s
}

/// `s` with one to three characters deleted, replaced or inserted.
fn mutate(rng: &mut Rng, s: String) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.below(3) + 1 {
        let at = rng.below(chars.len() + 1);
        let c = match rng.below(4) {
            0 => char::from(rng.below(128) as u8),
            1 => rng
                .pick(&["'", "(", ")", "/", ":", " ", "é", "-"])
                .chars()
                .next()
                .unwrap(),
            _ => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x'),
        };
        match rng.below(3) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => chars[at] = c,
            _ => chars.insert(at, c),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn fuzz_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for i in 0..100_000 {
        // Half random token soup, half valid conditions with a few characters changed.
        let input = if i % 2 == 0 {
            fuzz_input(&mut rng)
        } else {
            let valid = gen_condition(&mut rng, 4, &mut Vec::new());
            mutate(&mut rng, valid)
        };
        let result = std::panic::catch_unwind(|| parse_filter(&input));
        let Ok(result) = result else {
            panic!("case {i}: parser panicked on {input:?}");
        };
        match result {
            Ok(f) => {
                parsed += 1;
                round_trip(&f);
            }
            Err(e) => {
                let pos = e.position.expect("filter errors have a position");
                assert!(pos <= input.len(), "case {i}: {input:?}: {e}");
                assert!(input.is_char_boundary(pos), "case {i}: {input:?}: {e}");
                assert!(!e.message.is_empty());
            }
        }
    }
    eprintln!("{parsed} of 100000 fuzz inputs parsed");
    assert!(parsed > 100, "only {parsed} fuzz inputs parsed");
}

/// A random valid condition, `depth` levels at most.
fn gen_condition(rng: &mut Rng, depth: usize, vars: &mut Vec<String>) -> String {
    let leaf = depth == 0 || rng.below(3) == 0;
    if leaf {
        return match rng.below(6) {
            0 => format!(
                "{} in ({}, {})",
                gen_path(rng, vars),
                gen_value(rng),
                gen_value(rng)
            ),
            1 => format!(
                "{}({}, {})",
                rng.pick(&["startswith", "endsWith", "CONTAINS"]),
                gen_path(rng, vars),
                rng.pick(&["'x'", "''", "'it''s'", "'é✓'"])
            ),
            2 => format!("{}/any()", gen_path(rng, vars)),
            3 => gen_path(rng, vars),
            _ => format!(
                "{} {} {}",
                gen_path(rng, vars),
                rng.pick(&["eq", "ne", "gt", "ge", "lt", "le", "Eq"]),
                gen_value(rng)
            ),
        };
    }
    let d = depth - 1;
    match rng.below(6) {
        0 => format!("not ({})", gen_condition(rng, d, vars)),
        1 => format!("not({})", gen_condition(rng, d, vars)),
        2 => format!("({})", gen_condition(rng, d, vars)),
        3 => {
            let var = format!("v{}", vars.len());
            let coll = gen_path(rng, vars);
            vars.push(var.clone());
            let body = gen_condition(rng, d, vars);
            vars.pop();
            format!("{coll}/{}({var}: {body})", rng.pick(&["any", "all"]))
        }
        4 => format!(
            "({}) eq {}",
            gen_condition(rng, d, vars),
            rng.pick(&["true", "false"])
        ),
        _ => format!(
            "{} {} {}",
            gen_condition(rng, d, vars),
            rng.pick(&["and", "or", "AND"]),
            gen_condition(rng, d, vars)
        ),
    }
}

fn gen_path(rng: &mut Rng, vars: &[String]) -> String {
    let names = [
        "status",
        "errorCode",
        "appId",
        "t",
        "x_1",
        "location",
        "city",
        "$it/v0",
    ];
    let mut p = if !vars.is_empty() && rng.below(2) == 0 {
        vars[rng.below(vars.len())].clone()
    } else {
        rng.pick(&names).to_string()
    };
    for _ in 0..rng.below(3) {
        p.push('/');
        p.push_str(rng.pick(&names[..7]));
    }
    p
}

fn gen_value(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => format!("'{}'", rng.pick(&["", "x", "it''s", "é✓", "a b"])),
        1 => format!("{}", rng.next() as i64),
        2 => format!("{:?}", (rng.next() % 1_000_000) as f64 / 7.0),
        3 => format!("{}e{}", rng.below(100), rng.below(300)),
        4 => rng.pick(&["true", "false", "null"]).to_string(),
        5 => format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            rng.below(100),
            rng.below(12) + 1,
            rng.below(28) + 1,
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(10_000_000)
        ),
        6 => format!("2024-02-{:02}", rng.below(29) + 1),
        7 => "8a07c4d1-1b5e-4d5e-9a2b-3c4d5e6f7a8b".to_string(),
        _ => format!("{}", rng.below(100)),
    }
}

#[test]
fn generated_conditions_round_trip() {
    let mut rng = Rng(42);
    for i in 0..20_000 {
        let s = gen_condition(&mut rng, 5, &mut Vec::new());
        let f = match parse_filter(&s) {
            Ok(f) => f,
            Err(e) => panic!("case {i}: {s:?} should parse: {e}"),
        };
        round_trip(&f);
    }
}
