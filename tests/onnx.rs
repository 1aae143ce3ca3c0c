//! The crate against ONNX's reference implementation (`onnx.reference`) on
//! the fixtures `tests/fixtures/generate_onnx.py` wrote: MaxPool indices in
//! both storage orders, LpPool with padding, SAME auto padding, MaxUnpool.

mod common;

use approx::assert_relative_eq;
use ndarray::Array4;
use ndarray_pooling::{
    Padding, StorageOrder, Window2d, indices_from_onnx, indices_to_onnx, lp_pool2d, max_pool2d,
    max_unpool2d,
};

use common::fixtures::{Case, cases};

const FIXTURES: &str = include_str!("fixtures/onnx.txt");

fn window(case: &Case) -> Window2d {
    let [size_h, size_w] = case.usizes("size")[..] else {
        panic!()
    };
    let [stride_h, stride_w] = case.usizes("stride")[..] else {
        panic!()
    };
    let window = Window2d::new((size_h, size_w), (stride_h, stride_w));
    if case.fields.contains_key("auto_pad") {
        let same = match case.word("auto_pad") {
            "SAME_UPPER" => Padding::same_upper(),
            _ => Padding::same_lower(),
        };
        return window.with_padding(same);
    }
    // ONNX orders pads as [top, left, bottom, right]
    let [top, left, bottom, right] = case.usizes("pads")[..] else {
        panic!()
    };
    window.with_padding(Padding::new(top, bottom, left, right))
}

#[test]
fn every_onnx_fixture_case_matches() {
    let mut counts = [0; 4];
    for case in cases(FIXTURES) {
        let input = case.shape("input");
        let output = case.shape("output");
        let window = window(&case);
        let x = case.array::<f32>("x", input);
        match case.word("mode") {
            "maxpool" | "unpool" => {
                let (y, indices) = max_pool2d(&x, &window).unwrap();
                assert_eq!(y, case.array::<f32>("y", output), "{}", case.name);
                let order = match case.word("storage_order") {
                    "0" => StorageOrder::RowMajor,
                    _ => StorageOrder::ColumnMajor,
                };
                let onnx = indices_to_onnx(&indices, input, order).unwrap();
                assert_eq!(onnx, case.indices(output), "{}", case.name);
                assert_eq!(indices_from_onnx(&onnx, input, order).unwrap(), indices);
                if case.word("mode") == "unpool" {
                    let unpooled = max_unpool2d(&y, &indices, (input[2], input[3])).unwrap();
                    assert_eq!(unpooled, case.array::<f32>("u", input), "{}", case.name);
                    counts[3] += 1;
                }
                counts[0] += 1;
            }
            "lppool" => {
                let p: f64 = case.word("p").parse().unwrap();
                let y = lp_pool2d(&x.mapv(f64::from), &window, p).unwrap();
                let want: Array4<f64> = case.array("y", output);
                for (a, b) in y.iter().zip(&want) {
                    assert_relative_eq!(*a, *b, max_relative = 1e-6, epsilon = 1e-6);
                }
                counts[1] += 1;
            }
            "same" => {
                let (y, _) = max_pool2d(&x, &window).unwrap();
                assert_eq!(y, case.array::<f32>("y", output), "{}", case.name);
                counts[2] += 1;
            }
            other => panic!("unknown mode {other}"),
        }
    }
    println!(
        "{} MaxPool (of them {} MaxUnpool), {} LpPool and {} SAME cases match ONNX (onnxruntime and onnx.reference)",
        counts[0], counts[3], counts[1], counts[2]
    );
    assert!(counts.iter().all(|&c| c >= 10), "{counts:?}");
}
