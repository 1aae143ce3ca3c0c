//! The fixture files' format: blocks of `key values...` lines, from
//! `case NAME` to `end`.

use std::collections::HashMap;
use std::num::NonZeroUsize;

use ndarray::Array4;
use ndarray_pooling::{MeanDivisor, Padding, Window2d};
use num_traits::Float;

pub struct Case {
    pub name: String,
    pub fields: HashMap<String, Vec<String>>,
}

impl Case {
    pub fn words(&self, key: &str) -> &[String] {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("case {} lacks {key}", self.name))
    }

    pub fn word(&self, key: &str) -> &str {
        &self.words(key)[0]
    }

    pub fn usizes(&self, key: &str) -> Vec<usize> {
        self.words(key).iter().map(|w| w.parse().unwrap()).collect()
    }

    pub fn shape(&self, key: &str) -> [usize; 4] {
        self.usizes(key).try_into().unwrap()
    }

    pub fn array<T: Float>(&self, key: &str, shape: [usize; 4]) -> Array4<T> {
        let values = self
            .words(key)
            .iter()
            .map(|w| T::from(w.parse::<f64>().unwrap()).unwrap());
        Array4::from_shape_vec(shape, values.collect()).unwrap()
    }

    pub fn indices(&self, shape: [usize; 4]) -> Array4<i64> {
        let values = self.words("indices").iter().map(|w| w.parse().unwrap());
        Array4::from_shape_vec(shape, values.collect()).unwrap()
    }

    pub fn window(&self) -> Window2d {
        let [size_h, size_w] = self.usizes("size")[..] else {
            panic!()
        };
        let [stride_h, stride_w] = self.usizes("stride")[..] else {
            panic!()
        };
        let [top, bottom, left, right] = self.usizes("padding")[..] else {
            panic!()
        };
        let [dilation_h, dilation_w] = self.usizes("dilation")[..] else {
            panic!()
        };
        Window2d::new((size_h, size_w), (stride_h, stride_w))
            .with_padding(Padding::new(top, bottom, left, right))
            .with_dilation((dilation_h, dilation_w))
            .with_ceil_mode(self.word("ceil") == "1")
    }

    pub fn divisor(&self) -> MeanDivisor {
        match (self.usizes("divisor")[0], self.word("count_include_pad")) {
            (0, "1") => MeanDivisor::PaddedWindow,
            (0, _) => MeanDivisor::RealCells,
            (d, _) => MeanDivisor::Fixed(NonZeroUsize::new(d).unwrap()),
        }
    }
}

pub fn cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let key = words.next().unwrap_or_default();
        match key {
            "case" => {
                current = Some(Case {
                    name: words.next().unwrap().to_string(),
                    fields: HashMap::new(),
                })
            }
            "end" => cases.push(current.take().unwrap()),
            _ => {
                let case = current.as_mut().unwrap();
                case.fields
                    .insert(key.to_string(), words.map(String::from).collect());
            }
        }
    }
    cases
}
