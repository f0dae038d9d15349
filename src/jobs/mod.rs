pub mod advisories;
